import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  kafkaLog4jProperties,
  kafkaServerProperties,
  newKafkaClusterId,
  parseProperties,
} from "./kafka-config.js";

describe("kafkaServerProperties", () => {
  const text = kafkaServerProperties({
    port: 19092,
    controllerPort: 19093,
    dataDir: "/tmp/k data",
  });
  const properties = parseProperties(text);

  test("KRaft combined mode, one static voter, on loopback only", () => {
    assert.equal(properties.get("process.roles"), "broker,controller");
    assert.equal(properties.get("node.id"), "1");
    assert.equal(properties.get("controller.quorum.voters"), "1@127.0.0.1:19093");
    assert.equal(
      properties.get("listeners"),
      "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093",
    );
    assert.equal(properties.get("advertised.listeners"), "PLAINTEXT://127.0.0.1:19092");
    assert.equal(properties.get("controller.listener.names"), "CONTROLLER");
    assert.doesNotMatch(text, /0\.0\.0\.0|zookeeper/);
  });

  test("single-node settings: every internal topic with one replica, no rebalance delay", () => {
    for (const [key, value] of [
      ["offsets.topic.replication.factor", "1"],
      ["transaction.state.log.replication.factor", "1"],
      ["transaction.state.log.min.isr", "1"],
      ["default.replication.factor", "1"],
      ["min.insync.replicas", "1"],
      ["group.initial.rebalance.delay.ms", "0"],
      ["auto.create.topics.enable", "true"],
    ] as const) {
      assert.equal(properties.get(key), value, key);
    }
  });

  test("the data dir survives the properties format, spaces and backslashes included", () => {
    assert.equal(properties.get("log.dirs"), "/tmp/k data");
    const windows = kafkaServerProperties({ port: 1, controllerPort: 2, dataDir: "C:\\k\\data" });
    assert.equal(parseProperties(windows).get("log.dirs"), "C:\\k\\data");
  });
});

describe("kafkaLog4jProperties", () => {
  test("logs to stdout at the level asked", () => {
    assert.match(kafkaLog4jProperties(), /^log4j\.rootLogger=INFO, stdout$/m);
    assert.match(kafkaLog4jProperties("WARN"), /^log4j\.rootLogger=WARN, stdout$/m);
    assert.match(kafkaLog4jProperties(), /ConsoleAppender/);
  });
});

describe("newKafkaClusterId", () => {
  test("16 random bytes as unpadded base64url, like Kafka's Uuid", () => {
    const id = newKafkaClusterId();
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(Buffer.from(id, "base64url").length, 16);
    assert.notEqual(newKafkaClusterId(), id);
  });

  test("never starts with '-', which a command line would read as an option", () => {
    const draws = [Buffer.from([0xf8, ...Array<number>(15).fill(1)]), Buffer.alloc(16, 7)];
    assert.ok(draws[0]?.toString("base64url").startsWith("-"));
    const id = newKafkaClusterId(() => draws.shift() ?? Buffer.alloc(16));
    assert.equal(id, Buffer.alloc(16, 7).toString("base64url"));
  });
});

describe("parseProperties", () => {
  test("reads meta.properties: comments skipped, = and : separators", () => {
    const meta = parseProperties(
      "#\n#Tue Nov 25 02:41:01 UTC 2026\nnode.id=1\ndirectory.id=abc\nversion=1\ncluster.id=2Ewsi_oCZyNp1xM69j3Dcw\nkey: value\n",
    );
    assert.equal(meta.get("cluster.id"), "2Ewsi_oCZyNp1xM69j3Dcw");
    assert.equal(meta.get("key"), "value");
    assert.equal(meta.size, 5);
  });
});
