/**
 * Child process of the benchmark: a sidecar on loopback port 0 (gRPC and metrics) serving the model
 * repository given as the first argument. Prints its ports on one `benchReady` line; stops
 * gracefully on SIGTERM or when the benchmark goes away. With SLUICE_BENCH_CPU_PROFILE=<file> it
 * writes a CPU profile of its main thread, from ready to stop. With SLUICE_BENCH_SERVER=<path> it
 * runs the server module at that path instead of @sluice/server (to compare a patched copy).
 *
 *   node --conditions=source --import tsx bench/servers/sidecar-server.ts <model-repository>
 */
import { pathToFileURL } from "node:url";
import type * as server from "@sluice/server";
import { SERVER_MODULE_ENV, announceReady, exitWithParent } from "../lib/child.js";
import { profileMainThread } from "../lib/main-thread-profile.js";

const repository = process.argv[2];
if (repository === undefined) throw new Error("usage: sidecar-server.ts <model-repository>");

const modulePath = process.env[SERVER_MODULE_ENV];
const { startSidecar } = (await import(
  modulePath ? pathToFileURL(modulePath).href : "@sluice/server"
)) as typeof server;

const sidecar = await startSidecar({
  modelRepository: repository,
  host: "127.0.0.1",
  grpcPort: 0,
  metricsPort: 0,
  // Per-request logging would be measured as server cost; warnings still reach the benchmark.
  logLevel: process.env["SLUICE_BENCH_LOG"] ?? "warn",
});
const stopProfile = await profileMainThread();
exitWithParent(async () => {
  await stopProfile();
  await sidecar.close();
});
announceReady({ grpcPort: sidecar.grpcPort, metricsPort: sidecar.metricsPort });
