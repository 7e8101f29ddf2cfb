import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { float16ToNumber, numberToFloat16 } from "./float16.js";

describe("float16", () => {
  test("known words", () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [2 ** -24, 0x0001],
      [2 ** -14, 0x0400],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [value, bits] of cases) {
      assert.equal(numberToFloat16(value), bits, `${value}`);
      assert.equal(float16ToNumber(bits), value, `0x${bits.toString(16)}`);
    }
    assert.equal(numberToFloat16(-0), 0x8000);
    assert.ok(Number.isNaN(float16ToNumber(numberToFloat16(Number.NaN))));
  });

  test("rounds to nearest, ties to even, overflows to infinity", () => {
    assert.equal(float16ToNumber(numberToFloat16(0.1)), 0.0999755859375);
    assert.equal(numberToFloat16(1 + 2 ** -11), 0x3c00, "tie rounds down to even");
    assert.equal(numberToFloat16(1 + 3 * 2 ** -11), 0x3c02, "tie rounds up to even");
    assert.equal(numberToFloat16(65520), 0x7c00);
    assert.equal(numberToFloat16(2 ** -26), 0x0000);
  });

  test("every finite word round-trips", () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      assert.equal(numberToFloat16(float16ToNumber(bits)), bits);
    }
  });
});
