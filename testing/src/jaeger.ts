/**
 * Test support: a real Jaeger v2 (built from source by scripts/jaeger.sh into .cache/bin/) on free
 * loopback ports, with scripts/jaeger.yaml, and its trace query API (`/api/v3/traces/{id}`, which
 * answers in OTLP JSON) read back as flat spans.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "./paths.js";
import { freePort, waitFor } from "./wait.js";

export const JAEGER_BIN = join(REPO_ROOT, ".cache/bin/jaeger");
const JAEGER_CONFIG = join(REPO_ROOT, "scripts/jaeger.yaml");
/** Jaeger is ready to take spans in about a second; a loaded CI machine gets more. */
const START_TIMEOUT_MS = 20_000;

/** Whether scripts/jaeger.sh has built the binary. */
export async function jaegerBuilt(): Promise<boolean> {
  try {
    await access(JAEGER_BIN);
    await readFile(`${JAEGER_BIN}.version`, "utf8");
    return true;
  } catch {
    return false;
  }
}

/** One span as Jaeger stored it, flattened out of OTLP JSON. */
export interface StoredSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  /** undefined for a root span. */
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly links: readonly { traceId: string; spanId: string }[];
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  readonly status: number;
}

export const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  links?: { traceId: string; spanId: string }[];
  attributes?: OtlpAttribute[];
  status?: { code?: number };
}
interface OtlpTrace {
  result?: {
    resourceSpans?: {
      resource?: { attributes?: OtlpAttribute[] };
      scopeSpans?: { spans?: OtlpSpan[] }[];
    }[];
  };
}

function attributes(
  list: readonly OtlpAttribute[] = [],
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
  }
  return out;
}

export interface Jaeger {
  /** OTLP/HTTP base URL, for OTEL_EXPORTER_OTLP_ENDPOINT with protocol http/protobuf. */
  readonly otlpHttp: string;
  /** OTLP/gRPC URL, for OTEL_EXPORTER_OTLP_ENDPOINT with protocol grpc. */
  readonly otlpGrpc: string;
  /** The spans of one trace; empty until Jaeger has any. */
  trace(traceId: string): Promise<StoredSpan[]>;
  /** Jaeger's stderr so far, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export async function startJaeger(): Promise<Jaeger> {
  const [grpc, http, query, queryGrpc, health] = await Promise.all(
    Array.from({ length: 5 }, freePort),
  );
  let output = "";
  const child: ChildProcess = spawn(JAEGER_BIN, ["--config", `file:${JAEGER_CONFIG}`], {
    env: {
      ...process.env,
      JAEGER_LISTEN_HOST: "127.0.0.1",
      JAEGER_OTLP_GRPC_PORT: String(grpc),
      JAEGER_OTLP_HTTP_PORT: String(http),
      JAEGER_QUERY_HTTP_PORT: String(query),
      JAEGER_QUERY_GRPC_PORT: String(queryGrpc),
      JAEGER_HEALTH_PORT: String(health),
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = once(child, "exit");
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    await exited;
  };
  try {
    await waitFor(
      "Jaeger's health check",
      async () => {
        if (child.exitCode !== null) throw new Error(`jaeger exited ${child.exitCode}:\n${output}`);
        const response = await fetch(`http://127.0.0.1:${health}/status`).catch(() => undefined);
        return response?.ok === true ? true : undefined;
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 100 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const queryUrl = `http://127.0.0.1:${query}`;
  return {
    otlpHttp: `http://127.0.0.1:${http}`,
    otlpGrpc: `http://127.0.0.1:${grpc}`,
    output: () => output,
    stop,
    async trace(traceId) {
      const response = await fetch(`${queryUrl}/api/v3/traces/${traceId}`);
      if (response.status === 404) return [];
      if (!response.ok) {
        throw new Error(
          `GET /api/v3/traces/${traceId}: ${response.status} ${await response.text()}`,
        );
      }
      const body = (await response.json()) as OtlpTrace;
      return (body.result?.resourceSpans ?? []).flatMap((resource) => {
        const service = String(attributes(resource.resource?.attributes)["service.name"] ?? "");
        return (resource.scopeSpans ?? []).flatMap((scope) =>
          (scope.spans ?? []).map((span): StoredSpan => ({
            service,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            name: span.name,
            kind: span.kind ?? 0,
            links: (span.links ?? []).map(({ traceId, spanId }) => ({ traceId, spanId })),
            attributes: attributes(span.attributes),
            status: span.status?.code ?? 0,
          })),
        );
      });
    },
  };
}
