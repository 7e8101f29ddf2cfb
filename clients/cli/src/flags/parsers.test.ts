import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "commander";
import {
  collect,
  integer,
  parseMilliseconds,
  parsePositiveInteger,
  parseProbability,
  positiveDuration,
} from "./parsers.js";

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

describe("parsePositiveInteger", () => {
  test("accepts positive integers, refuses the rest saying what came", () => {
    assert.equal(parsePositiveInteger("12"), 12);
    for (const value of ["0", "-3", "1.5", "", " ", "x"]) {
      assert.throws(() => parsePositiveInteger(value), {
        name: "InvalidArgumentError",
        message: `expected a positive integer, got "${value}"`,
      });
    }
  });
});

describe("parseProbability", () => {
  test("accepts 0 to 1 inclusive, refuses the rest saying what came", () => {
    assert.equal(parseProbability("0"), 0);
    assert.equal(parseProbability("0.25"), 0.25);
    assert.equal(parseProbability("1"), 1);
    for (const value of ["-0.1", "1.01", "", "NaN", "half"]) {
      assert.throws(() => parseProbability(value), {
        name: "InvalidArgumentError",
        message: `expected a number from 0 to 1, got "${value}"`,
      });
    }
  });
});

describe("positiveDuration", () => {
  test("reads pipeline durations in ms, refuses the rest with the command's examples", () => {
    const ramp = positiveDuration('"10m" or "30s"');
    assert.equal(ramp("10m"), 600_000);
    assert.equal(ramp("30s"), 30_000);
    for (const value of ["0s", "ten minutes", ""]) {
      assert.throws(() => ramp(value), {
        name: "InvalidArgumentError",
        message: `expected a duration like "10m" or "30s", got "${value}"`,
      });
    }
  });
});

describe("collect", () => {
  test("a repeated option becomes an array in order", () => {
    assert.deepEqual(collect("b", collect("a")), ["a", "b"]);
  });
});
