import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeBytesElements, encodeBytesElements } from "./bytes-framing.js";
import { datatypeInfo } from "./datatype.js";
import { bytesOf, readRaw, viewRaw } from "./raw.js";
import { elementCount } from "./shape.js";

describe("raw contents", () => {
  test("numeric contents are viewed in place when aligned, copied when not", () => {
    const values = new Float64Array([1.5, -2]);
    const aligned = viewRaw("FP64", bytesOf(values));
    assert.equal(aligned.buffer, values.buffer);
    const backing = new Uint8Array(17);
    backing.set(bytesOf(values), 1);
    const misaligned = viewRaw("FP64", backing.subarray(1));
    assert.notEqual(misaligned.buffer, backing.buffer);
    assert.deepEqual(misaligned, values);
  });

  test("readRaw checks the length against the element count", () => {
    assert.deepEqual(
      readRaw("INT16", bytesOf(new Int16Array([1, -1])), 2),
      new Int16Array([1, -1]),
    );
    assert.throws(() => readRaw("FP32", new Uint8Array(8), 3), {
      name: "RangeError",
      message: "expected 3 elements of FP32 (12 bytes), got 8 bytes",
    });
    assert.throws(
      () => viewRaw("FP32", new Uint8Array(7)),
      /FP32: expected a multiple of 4 bytes, got 7 bytes/,
    );
  });

  test("BYTES elements round-trip through their length prefixes", () => {
    const elements = ["", "hé", "x"].map((text) => Buffer.from(text));
    const raw = encodeBytesElements(elements);
    assert.equal(raw.byteLength, 3 * 4 + 0 + 3 + 1);
    assert.deepEqual(
      (readRaw("BYTES", raw, 3) as Uint8Array[]).map((e) => Buffer.from(e).toString()),
      ["", "hé", "x"],
    );
  });

  test("bad BYTES framing says what was expected and what came", () => {
    const two = encodeBytesElements([Buffer.from("ab"), Buffer.from("c")]);
    assert.throws(
      () => decodeBytesElements(two, 1),
      /BYTES: expected 1 elements, got 5 bytes after the last one/,
    );
    assert.throws(() => decodeBytesElements(two, 3), /BYTES: expected 3 elements, got 2/);
    assert.throws(
      () => decodeBytesElements(two.subarray(0, 7), 2),
      /BYTES element 1: expected a 4-byte length prefix, got 1 bytes/,
    );
    assert.throws(
      () => decodeBytesElements(two.subarray(0, 5), 1),
      /BYTES element 0: length prefix says 2 bytes, only 1 remain/,
    );
  });
});

describe("shapes and datatypes", () => {
  test("elementCount multiplies dimensions and refuses negative or overflowing ones", () => {
    assert.equal(elementCount([2, 3, 4]), 24);
    assert.equal(elementCount([]), 1);
    assert.equal(elementCount([5, 0]), 0);
    assert.throws(
      () => elementCount([2, -1]),
      /shape \[2, -1\]: dimensions must be non-negative integers/,
    );
    assert.throws(() => elementCount([2 ** 30, 2 ** 30, 2 ** 30]), /element count overflows/);
  });

  test("integer datatypes know their range; others have none", () => {
    assert.deepEqual(datatypeInfo("INT8").range, [-128n, 127n]);
    assert.deepEqual(datatypeInfo("UINT16").range, [0n, 65535n]);
    assert.deepEqual(datatypeInfo("INT64").range, [-(2n ** 63n), 2n ** 63n - 1n]);
    assert.deepEqual(datatypeInfo("UINT64").range, [0n, 2n ** 64n - 1n]);
    assert.equal(datatypeInfo("FP32").range, undefined);
    assert.equal(datatypeInfo("BOOL").range, undefined);
  });
});
