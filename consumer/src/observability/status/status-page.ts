/**
 * The routes of the status page, served beside `/metrics` on the consumer's metrics port:
 * `GET /` (and `/status`) the page, `GET /status.json` its figures (`StatusHistory`), and the
 * page's script and styles, uPlot's among them, read once from consumer/status-page and from the
 * consumer's own node_modules, so the page needs no network beyond this port.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { MetricsRoute } from "@sluice/kit";
import type { StatusHistory } from "./status-history.js";

/** The page's own files: consumer/status-page, three folders up from src/ and dist/ alike. */
const PAGE_FOLDER = new URL("../../../status-page/", import.meta.url);
const require = createRequire(import.meta.url);

/** The page runs only its own scripts and talks only to this server. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:";

interface Asset {
  readonly path: string;
  readonly file: string;
  readonly type: string;
}

function assets(): Asset[] {
  const page = (name: string) => fileURLToPath(new URL(name, PAGE_FOLDER));
  return [
    { path: "/", file: page("index.html"), type: "text/html; charset=utf-8" },
    { path: "/status", file: page("index.html"), type: "text/html; charset=utf-8" },
    { path: "/status/status.js", file: page("status.js"), type: "text/javascript; charset=utf-8" },
    { path: "/status/status.css", file: page("status.css"), type: "text/css; charset=utf-8" },
    {
      path: "/status/uplot.js",
      file: require.resolve("uplot/dist/uPlot.iife.min.js"),
      type: "text/javascript; charset=utf-8",
    },
    {
      path: "/status/uplot.css",
      file: require.resolve("uplot/dist/uPlot.min.css"),
      type: "text/css; charset=utf-8",
    },
  ];
}

const COMMON_HEADERS = {
  "x-content-type-options": "nosniff",
  "content-security-policy": CONTENT_SECURITY_POLICY,
};

/** The status page's routes over `history`; rejects, naming the file, when one cannot be read. */
export async function statusRoutes(history: StatusHistory): Promise<MetricsRoute[]> {
  const routes: MetricsRoute[] = await Promise.all(
    assets().map(async ({ path, file, type }) => {
      const body = await readFile(file).catch((error: unknown) => {
        throw new Error(`the status page's ${path} (${file}) cannot be read`, { cause: error });
      });
      return {
        path,
        handle(_request, response) {
          response.writeHead(200, { ...COMMON_HEADERS, "content-type": type }).end(body);
        },
      };
    }),
  );
  routes.push({
    path: "/status.json",
    handle(_request, response) {
      response
        .writeHead(200, {
          ...COMMON_HEADERS,
          "content-type": "application/json",
          "cache-control": "no-store",
        })
        .end(JSON.stringify(history.toJSON()));
    },
  });
  return routes;
}
