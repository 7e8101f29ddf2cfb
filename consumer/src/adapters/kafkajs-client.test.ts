import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { logLevel } from "kafkajs";
import { kafkajsLevel } from "./kafkajs-client.js";

describe("kafkajsLevel", () => {
  it("makes the responses kafkajs retries while a coordinator or leader starts debug lines", () => {
    for (const error of [
      "The coordinator is loading and hence can't process requests for this group",
      "The group coordinator is not available",
      "This is not the correct coordinator for this group",
      "There is no leader for this topic-partition as we are in the middle of a leadership election",
      "The group is rebalancing, so a rejoin is needed",
    ]) {
      const level = kafkajsLevel(logLevel.ERROR, {
        message: "Response GroupCoordinator(key: 10, version: 2)",
        error,
      });
      assert.equal(level, "debug", error);
    }
    assert.equal(
      kafkajsLevel(logLevel.ERROR, {
        message: "Response JoinGroup",
        error: "Leader not available",
      }),
      "debug",
    );
  });

  it("keeps what needs the user as it was", () => {
    assert.equal(
      kafkajsLevel(logLevel.ERROR, {
        message: "Connection error: connect ECONNREFUSED 127.0.0.1:1",
      }),
      "error",
    );
    assert.equal(
      kafkajsLevel(logLevel.WARN, {
        message: "Response Produce",
        error: "SASL Authentication failed",
      }),
      "warn",
    );
    assert.equal(kafkajsLevel(logLevel.INFO, { message: "Consumer has joined the group" }), "info");
  });
});
