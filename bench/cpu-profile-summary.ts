/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, e.g. from `sidecar.bench.ts --cpu-prof <dir>`):
 * where the sampled time went by component (grpc-js, protobuf, the sidecar's own modules, Node's
 * HTTP/2 and streams, GC, idle), and the heaviest functions by self and by inclusive time.
 *
 *   node --conditions=source --import tsx bench/cpu-profile-summary.ts <file.cpuprofile | dir>... [--top 25]
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { num, table } from "./lib/report.js";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Components by the path of the code's file, first match wins. */
const COMPONENTS: readonly (readonly [string, RegExp])[] = [
  ["grpc-js", /node_modules\/@grpc\/grpc-js\//],
  ["protobuf-es", /node_modules\/@bufbuild\/protobuf\//],
  ["prom-client", /node_modules\/prom-client\//],
  ["opentelemetry", /node_modules\/@opentelemetry\//],
  ["pino", /node_modules\/(pino|sonic-boom|thread-stream)/],
  ["onnxruntime-node", /node_modules\/onnxruntime-(node|common)\//],
  ["tsx loader", /node_modules\/tsx\//],
  ["kafkajs", /node_modules\/kafkajs\//],
  ["ioredis", /node_modules\/(ioredis|@ioredis|redis-parser|cluster-key-slot)\//],
  ["sluice server", /server\/src\//],
  ["sluice consumer", /consumer\/src\//],
  ["sluice client", /clients\/client\/src\//],
  ["sluice proto", /proto\/src\//],
  [
    "node: http2/net/streams",
    /^node:internal\/(http2|net|stream|streams|tls|dns)|^node:(http2|net|stream)/,
  ],
  ["node: worker messaging", /^node:internal\/(worker|per_context\/messageport)/],
  ["node: timers/async/other", /^node:/],
];

function component(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (url === "") {
    if (functionName === "(garbage collector)") return "GC";
    if (functionName === "(idle)") return "idle";
    if (functionName === "(program)") return "(program: native, outside JS)";
    return `native: ${functionName || "(anonymous)"}`;
  }
  for (const [name, pattern] of COMPONENTS) if (pattern.test(url)) return name;
  return "other JS";
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*\/(node_modules\/|server\/src\/|proto\/src\/|bench\/)/, "$1");
  return `${functionName || "(anonymous)"} ${file ? `${file}:${lineNumber + 1}` : ""}`.trim();
}

async function summarise(path: string, top: number): Promise<void> {
  const profile = JSON.parse(await readFile(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
  );
  const totalUs = profile.endTime - profile.startTime;
  const idleUs = [...self]
    .filter(([id]) => byId.get(id)?.callFrame.functionName === "(idle)")
    .reduce((sum, [, us]) => sum + us, 0);
  const busyUs = totalUs - idleUs;

  const byComponent = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    byComponent.set(component(node), (byComponent.get(component(node)) ?? 0) + us);
    selfByFunction.set(label(node), (selfByFunction.get(label(node)) ?? 0) + us);
  }

  // Inclusive time per function: a sample counts once per distinct function on its stack.
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = label(byId.get(at)!);
      if (name.startsWith("(root)") || seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }

  const share = (us: number) => `${num((100 * us) / busyUs, 1)}%`;
  const ms = (us: number) => num(us / 1000, 0);
  const rows = (
    map: Map<string, number>,
    n: number,
    skip: (name: string) => boolean = () => false,
  ) =>
    [...map]
      .filter(([name]) => !skip(name))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => [name, ms(us), share(us)]);

  process.stdout.write(`\n# ${path}\n`);
  process.stdout.write(
    `profiled ${ms(totalUs)} ms, of which idle ${ms(idleUs)} ms (${num((100 * idleUs) / totalUs, 1)}%); shares below are of the ${ms(busyUs)} busy ms\n\n`,
  );
  process.stdout.write(
    `${table([["component (self time)", "ms", "share"], ...rows(byComponent, 20, (name) => name === "idle")])}\n\n`,
  );
  process.stdout.write(
    `${table([["function (self time)", "ms", "share"], ...rows(selfByFunction, top, (name) => name.startsWith("(idle)"))])}\n\n`,
  );
  const interesting = (name: string) =>
    !/server\/src\/|grpc-js\/build\/src\/(server|call)|protobuf\/dist/.test(name);
  process.stdout.write(
    `${table([["sidecar / grpc-js server / protobuf function (inclusive)", "ms", "share"], ...rows(inclusive, top, interesting)])}\n`,
  );
}

const { values, positionals } = parseArgs({
  options: { top: { type: "string", default: "25" } },
  allowPositionals: true,
});
if (positionals.length === 0)
  throw new Error("usage: cpu-profile-summary.ts <file.cpuprofile | dir>... [--top 25]");
for (const target of positionals) {
  const files = (await stat(target)).isDirectory()
    ? (await readdir(target))
        .filter((name) => name.endsWith(".cpuprofile"))
        .sort()
        .map((name) => join(target, name))
    : [target];
  for (const file of files) await summarise(file, Number(values.top));
}
