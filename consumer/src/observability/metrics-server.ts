/** A registry's metrics over HTTP at `/metrics`, for Prometheus to scrape. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export class MetricsServer {
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Serves `registry` on host:port; port 0 picks a free one. */
  static async listen(registry: Registry, host: string, port: number): Promise<MetricsServer> {
    const server = createServer((request, response) => {
      if (
        request.method !== "GET" ||
        (request.url !== "/metrics" && !request.url?.startsWith("/metrics?"))
      ) {
        response
          .writeHead(404, { "content-type": "text/plain" })
          .end("not found: try GET /metrics\n");
        return;
      }
      registry.metrics().then(
        (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
        (error: unknown) =>
          response.writeHead(500, { "content-type": "text/plain" }).end(`${String(error)}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new MetricsServer(server);
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
