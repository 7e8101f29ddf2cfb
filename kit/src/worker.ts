/**
 * Worker threads on a module of ours, whether it runs built (JavaScript) or from source under tsx
 * (tests, development). From source the worker registers tsx's loader itself before importing its
 * module: Node 20 did not carry a loader registered with `--import` into worker threads.
 */
import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * The URL of the worker module `name` (without extension) beside the module at `callerUrl`
 * (`import.meta.url`): its `.ts` file when the caller runs from source, else its `.js`.
 */
export function workerModuleUrl(name: string, callerUrl: string): URL {
  const extension = callerUrl.endsWith(".ts") ? ".ts" : ".js";
  return new URL(`./${name}${extension}`, callerUrl);
}

/** A worker thread running the module at `url` (from `workerModuleUrl`). */
export function startWorker(url: URL, options: WorkerOptions = {}): Worker {
  if (!url.pathname.endsWith(".ts")) return new Worker(url, options);
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
