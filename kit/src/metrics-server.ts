/**
 * The HTTP endpoint Prometheus scrapes, `GET /metrics`, for the sidecar and the consumer alike.
 * Anything with `metrics()` and `contentType` renders (a prom-client Registry does), so this module
 * needs no metrics library of its own.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface MetricsSource {
  /** The exposition text. */
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** A further page served beside `/metrics` (e.g. a status page); `path` is matched exactly. */
export interface MetricsRoute {
  readonly path: string;
  handle(request: IncomingMessage, response: ServerResponse): void;
}

export interface MetricsServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `source` at `/metrics` on host:port (0 picks a free port); resolves once listening. */
export async function serveMetrics(
  source: MetricsSource,
  host: string,
  port: number,
  routes: readonly MetricsRoute[] = [],
): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?", 1)[0];
    if (request.method === "GET" && path === "/metrics") {
      source.metrics().then(
        (text) => response.writeHead(200, { "content-type": source.contentType }).end(text),
        (error: unknown) =>
          response.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`),
      );
      return;
    }
    const route = request.method === "GET" ? routes.find((r) => r.path === path) : undefined;
    if (route !== undefined) {
      route.handle(request, response);
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" }).end("not found: try GET /metrics\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
