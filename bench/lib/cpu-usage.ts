/**
 * CPU time of the processes in a measured window, from Linux's /proc: the server child's main
 * thread (the event loop serving gRPC) apart from its other threads (model workers, ONNX Runtime's
 * pools, GC helpers), and the load generator itself. On a 2-core machine these compete, so where
 * the cores went explains a ceiling better than any single latency. Elsewhere the figures are NaN.
 */
import { readFileSync, readdirSync } from "node:fs";

/** USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on every Linux architecture Node supports. */
const TICKS_PER_SECOND = 100;

export interface CpuSample {
  readonly at: number;
  /** Milliseconds of CPU used so far. */
  readonly serverMainMs: number;
  readonly serverOtherMs: number;
  readonly clientMs: number;
}

export interface CpuShare {
  /** Percent of one core over the window. */
  readonly serverMain: number;
  readonly serverOther: number;
  readonly client: number;
}

function threadMs(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** CPU used so far by `serverPid` (main thread and the rest) and by this process. */
export function sampleCpu(serverPid: number | undefined): CpuSample {
  const usage = process.cpuUsage();
  let main = NaN;
  let other = NaN;
  if (serverPid !== undefined) {
    try {
      main = threadMs(serverPid, serverPid);
      other = 0;
      for (const tid of readdirSync(`/proc/${serverPid}/task`)) {
        if (Number(tid) === serverPid) continue;
        try {
          other += threadMs(serverPid, Number(tid));
        } catch {
          // The thread ended between the listing and the read (the window then undercounts it).
        }
      }
    } catch {
      // Not Linux, or the server is gone: no figures rather than wrong ones.
      main = NaN;
      other = NaN;
    }
  }
  return {
    at: performance.now(),
    serverMainMs: main,
    serverOtherMs: other,
    clientMs: (usage.user + usage.system) / 1000,
  };
}

/** Percent of one core each used between two samples. */
export function cpuShare(before: CpuSample, after: CpuSample): CpuShare {
  const wallMs = after.at - before.at;
  const percent = (a: number, b: number) => (100 * (b - a)) / wallMs;
  return {
    serverMain: percent(before.serverMainMs, after.serverMainMs),
    serverOther: percent(before.serverOtherMs, after.serverOtherMs),
    client: percent(before.clientMs, after.clientMs),
  };
}
