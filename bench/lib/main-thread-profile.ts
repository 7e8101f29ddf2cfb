/**
 * A CPU profile of a child server's main thread over the load only: started once the server is
 * ready and stopped when it is asked to stop, so module compilation, model loading and warm-up do
 * not drown the steady state (as they would with `node --cpu-prof`, which covers the whole life).
 * Worker threads are not included: their time is ONNX Runtime's, reported as compute_infer.
 */
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";

/** The benchmark sets this to the file a child should write its profile to. */
export const PROFILE_ENV = "SLUICE_BENCH_CPU_PROFILE";
/** Microseconds between samples: finer than --cpu-prof's 1 ms default, for sub-millisecond requests. */
const SAMPLING_INTERVAL_US = 250;

/** Starts profiling when PROFILE_ENV is set; the returned function stops and writes the profile. */
export async function profileMainThread(): Promise<() => Promise<void>> {
  const path = process.env[PROFILE_ENV];
  if (path === undefined || path === "") return () => Promise.resolve();
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    await writeFile(path, JSON.stringify(profile));
  };
}
