/**
 * Compares two V8 heap snapshots (`.heapsnapshot`, as written by `node --heapsnapshot-signal` or
 * `v8.writeHeapSnapshot()`) by constructor: how many objects of each and their shallow size, and
 * what changed between the first and the second. A leak shows as a constructor whose count keeps
 * growing with the load; a heap that only reached its steady size shows as small differences.
 *
 *   node --import tsx scripts/soak/heap-diff.ts before.heapsnapshot after.heapsnapshot [--top 30]
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Count and shallow bytes per "type:name" (for objects, the name is the constructor's). */
type Census = Map<string, { count: number; bytes: number }>;

async function census(path: string): Promise<Census> {
  const snapshot = JSON.parse(await readFile(path, "utf8")) as Snapshot;
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  if (typeAt === undefined || nameAt === undefined || sizeAt === undefined || sizeAt < 0)
    throw new Error(`${path}: expected a V8 heap snapshot (nodes with type, name and self_size)`);
  const result: Census = new Map();
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += fields.length) {
    const type = types[nodes[i + typeAt]!] ?? "?";
    // Strings and code are named by their contents: group them by type alone.
    const named = type === "object" || type === "closure" || type === "native" || type === "hidden";
    const key = named ? `${type}:${strings[nodes[i + nameAt]!]}` : type;
    const entry = result.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += nodes[i + sizeAt]!;
    result.set(key, entry);
  }
  return result;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "30" } },
});
if (positionals.length !== 2)
  throw new Error(`expected two .heapsnapshot files (before, after), got ${positionals.length}`);
const [before, after] = await Promise.all(positionals.map(census));
const total = (c: Census) => [...c.values()].reduce((sum, e) => sum + e.bytes, 0);
const rows = [...new Set([...before!.keys(), ...after!.keys()])].map((key) => {
  const a = before!.get(key) ?? { count: 0, bytes: 0 };
  const b = after!.get(key) ?? { count: 0, bytes: 0 };
  return {
    key,
    count: b.count,
    bytes: b.bytes,
    dCount: b.count - a.count,
    dBytes: b.bytes - a.bytes,
  };
});
const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;
process.stdout.write(
  `heap (shallow sizes): ${kb(total(before!))} -> ${kb(total(after!))}\n\n` +
    "| constructor | objects | change | shallow size | change |\n| --- | ---: | ---: | ---: | ---: |\n",
);
for (const row of rows
  .sort((x, y) => Math.abs(y.dBytes) - Math.abs(x.dBytes))
  .slice(0, Number(values.top)))
  process.stdout.write(
    `| ${row.key.slice(0, 60)} | ${row.count} | ${row.dCount >= 0 ? "+" : ""}${row.dCount} | ${kb(row.bytes)} | ${row.dBytes >= 0 ? "+" : ""}${kb(row.dBytes)} |\n`,
  );
