/**
 * The pipeline's TLS and SASL settings (config/kafka-security.ts) in each Kafka client's words,
 * and the one thing both clients say badly: why a secured connection failed. Their errors bury an
 * authentication failure or an untrusted certificate under retries ("Listing topics failed",
 * "Number of retries exceeded"); `securityFailure` digs it out so the startup error says which.
 */
import { isIP } from "node:net";
import type { SASLOptions as KafkajsSasl } from "kafkajs";
import type { KafkaSecurity } from "../config/kafka-security.js";

/** The connection options of @platformatic/kafka's clients (Admin, Producer, Consumer). */
export interface PlatformaticSecurityOptions {
  tls?: {
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    rejectUnauthorized: boolean;
  };
  /** The SNI name: a string, or true for each broker's host. */
  tlsServerName?: string | boolean;
  sasl?: {
    mechanism: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512";
    username: string;
    password: string;
  };
}

const PLATFORMATIC_MECHANISMS = {
  plain: "PLAIN",
  "scram-sha-256": "SCRAM-SHA-256",
  "scram-sha-512": "SCRAM-SHA-512",
} as const;

/** `security` as @platformatic/kafka options, to spread into a client's constructor options. */
export function platformaticSecurity(
  security: KafkaSecurity | undefined,
  brokers: readonly string[],
): PlatformaticSecurityOptions {
  const options: PlatformaticSecurityOptions = {};
  const tls = security?.tls;
  if (tls !== undefined) {
    options.tls = {
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
      rejectUnauthorized: tls.rejectUnauthorized,
    };
    // SNI with the broker's host name, as kafkajs sends it (proxies and managed clusters route on
    // it); not for an address, which RFC 6066 forbids in SNI and Node warns about.
    const named = brokers.every((broker) => isIP(hostOf(broker)) === 0);
    if (tls.servername !== undefined) options.tlsServerName = tls.servername;
    else if (named) options.tlsServerName = true;
  }
  const sasl = security?.sasl;
  if (sasl !== undefined) {
    options.sasl = {
      mechanism: PLATFORMATIC_MECHANISMS[sasl.mechanism],
      username: sasl.username,
      password: sasl.password,
    };
  }
  return options;
}

/** `security` as kafkajs's `ssl` and `sasl` options. */
export function kafkajsSecurity(security: KafkaSecurity | undefined): {
  ssl?: {
    ca?: Buffer[];
    cert?: Buffer;
    key?: Buffer;
    servername?: string;
    rejectUnauthorized: boolean;
  };
  sasl?: KafkajsSasl;
} {
  const tls = security?.tls;
  const sasl = security?.sasl;
  return {
    ...(tls === undefined
      ? {}
      : {
          ssl: {
            ...(tls.ca === undefined ? {} : { ca: [tls.ca] }),
            ...(tls.cert === undefined ? {} : { cert: tls.cert }),
            ...(tls.key === undefined ? {} : { key: tls.key }),
            ...(tls.servername === undefined ? {} : { servername: tls.servername }),
            rejectUnauthorized: tls.rejectUnauthorized,
          },
        }),
    ...(sasl === undefined
      ? {}
      : {
          sasl: {
            mechanism: sasl.mechanism,
            username: sasl.username,
            password: sasl.password,
          },
        }),
  };
}

/** Node's codes for a certificate the client does not accept (tls.TLSSocket.authorizationError). */
const CERTIFICATE_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * What a failed connection says about security, for a message a user can act on; undefined when
 * the failure is something else (a broker down, a timeout). Walks the error's causes and the
 * errors it aggregates, as both clients wrap the socket's error in their retries.
 */
export function securityFailure(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  let certificate: string | undefined;
  while (queue.length > 0) {
    const current = queue.shift();
    if (current === null || typeof current !== "object" || seen.has(current)) continue;
    seen.add(current);
    const { code, name, message, cause, errors } = current as {
      code?: unknown;
      name?: unknown;
      message?: unknown;
      cause?: unknown;
      errors?: unknown;
    };
    const text = typeof message === "string" ? message.replace(/\.$/, "") : "";
    // @platformatic/kafka's AuthenticationError; kafkajs's KafkaJSSASLAuthenticationError.
    if (code === "PLT_KFK_AUTHENTICATION" || name === "KafkaJSSASLAuthenticationError") {
      return `authentication failed: the broker refused the SASL credentials (${text}); check kafka.sasl's username, password and mechanism`;
    }
    if (typeof code === "string" && CERTIFICATE_CODES.has(code)) {
      certificate ??= `TLS certificate check failed: the broker's certificate is not trusted (${code}: ${text.replace(/; if the root CA.*$/, "")}); check kafka.tls.ca (and kafka.tls.servername)`;
    }
    queue.push(cause);
    if (Array.isArray(errors)) queue.push(...(errors as unknown[]));
  }
  return certificate;
}

/** `error`, or an Error saying what `securityFailure` found, with `error` as its cause. */
export function withSecurityReason(error: unknown): unknown {
  const reason = securityFailure(error);
  return reason === undefined ? error : new Error(reason, { cause: error });
}

function hostOf(broker: string): string {
  const at = broker.lastIndexOf(":");
  const host = at < 0 ? broker : broker.slice(0, at);
  return host.startsWith("[") ? host.slice(1, -1) : host;
}
