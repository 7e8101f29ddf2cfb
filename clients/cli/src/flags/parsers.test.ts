import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "commander";
import { collect, integer, parseMilliseconds } from "./parsers.js";

describe("parseMilliseconds", () => {
  test("accepts positive numbers, refuses the rest saying what came", () => {
    assert.equal(parseMilliseconds("250"), 250);
    assert.equal(parseMilliseconds("1.5"), 1.5);
    for (const value of ["0", "-5", "abc", "", "Infinity"]) {
      assert.throws(
        () => parseMilliseconds(value),
        (error: unknown) => {
          assert.ok(error instanceof InvalidArgumentError);
          assert.equal(error.message, `expected a positive number of milliseconds, got "${value}"`);
          return true;
        },
      );
    }
  });
});

describe("integer", () => {
  test("accepts integers in range, refuses the rest naming the flag", () => {
    const port = integer("--grpc-port", 0, 65535);
    assert.equal(port("8001"), 8001);
    for (const value of ["-1", "65536", "1.5", "", "x"]) {
      assert.throws(() => port(value), {
        name: "InvalidArgumentError",
        message: `--grpc-port: expected an integer from 0 to 65535, got "${value}"`,
      });
    }
  });
});

describe("collect", () => {
  test("a repeated option becomes an array in order", () => {
    assert.deepEqual(collect("b", collect("a")), ["a", "b"]);
  });
});
