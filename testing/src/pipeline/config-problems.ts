/**
 * Test support for config validation: what a rejected pipeline config says. The consumer rejects
 * bad config with one `config_invalid` ConsumerError listing every problem, one a line.
 */
import assert from "node:assert/strict";
import { ConsumerError } from "@sluice/consumer";

/**
 * The message of the `config_invalid` error `parse` throws; fails the test when it throws nothing
 * or anything else.
 */
export function configProblem(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    assert.ok(ConsumerError.is(error, "config_invalid"), `got ${String(error)}`);
    return error.message;
  }
  assert.fail("expected a config_invalid error, got none");
}

/** The same for a promise: the message of its `config_invalid` rejection. */
export async function configRejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(ConsumerError.is(error, "config_invalid"), `got ${String(error)}`);
    return error.message;
  }
  assert.fail("expected a config_invalid rejection, got none");
}
