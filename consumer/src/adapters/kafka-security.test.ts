import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { kafkajsSecurity, platformaticSecurity, securityFailure } from "./kafka-security.js";

const SECURITY = {
  tls: { ca: Buffer.from("CA"), rejectUnauthorized: true },
  sasl: { mechanism: "scram-sha-256" as const, username: "sluice", password: "pw" },
};

describe("Kafka security in each client's options", () => {
  it("maps to @platformatic/kafka: SNI with host names, none with addresses", () => {
    assert.deepEqual(platformaticSecurity(undefined, ["127.0.0.1:9092"]), {});
    assert.deepEqual(platformaticSecurity(SECURITY, ["kafka-0.example.com:9093"]), {
      tls: { ca: Buffer.from("CA"), rejectUnauthorized: true },
      tlsServerName: true,
      sasl: { mechanism: "SCRAM-SHA-256", username: "sluice", password: "pw" },
    });
    assert.equal(platformaticSecurity(SECURITY, ["127.0.0.1:9093"]).tlsServerName, undefined);
    const named = { tls: { ...SECURITY.tls, servername: "kafka" } };
    assert.equal(platformaticSecurity(named, ["10.0.0.1:9093"]).tlsServerName, "kafka");
  });

  it("maps to kafkajs's ssl and sasl", () => {
    assert.deepEqual(kafkajsSecurity(undefined), {});
    assert.deepEqual(kafkajsSecurity(SECURITY), {
      ssl: { ca: [Buffer.from("CA")], rejectUnauthorized: true },
      sasl: { mechanism: "scram-sha-256", username: "sluice", password: "pw" },
    });
  });

  it("finds an authentication failure or an untrusted certificate under the retries", () => {
    const refused = Object.assign(new Error("SASL authentication failed."), {
      code: "PLT_KFK_AUTHENTICATION",
    });
    const wrapped = new AggregateError(
      [new Error("Cannot connect to any broker.", { cause: refused })],
      "Listing topics failed.",
    );
    assert.match(
      securityFailure(wrapped) ?? "",
      /^authentication failed: the broker refused the SASL credentials \(SASL authentication failed\)/,
    );
    const untrusted = Object.assign(new Error("self-signed certificate in certificate chain"), {
      code: "SELF_SIGNED_CERT_IN_CHAIN",
    });
    assert.match(
      securityFailure(new Error("Number of retries exceeded", { cause: untrusted })) ?? "",
      /^TLS certificate check failed: the broker's certificate is not trusted \(SELF_SIGNED_CERT_IN_CHAIN: /,
    );
    assert.equal(securityFailure(new Error("connect ECONNREFUSED 127.0.0.1:9092")), undefined);
  });
});
