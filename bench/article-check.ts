/**
 * Checks the pipeline benchmark's article variant (bench/article/article_consumer.py) against
 * Sluice: its 20 features against the TypeScript reference of the fraud layout, its in-process
 * scores against a real sidecar's (see bench/pipeline/article-check.ts). Needs no Kafka or Redis;
 * makes the Python virtualenv on first use. pipeline.bench.ts runs the same check before it
 * measures the article variant.
 *
 *   node --conditions=source --import tsx bench/article-check.ts [--verbose]
 */
import { cp, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT, cleanUp, cleanUpOnSignals, removeLater, startChild } from "./lib/child.js";
import {
  CHECK_EVENTS,
  checkArticle,
  checkPassed,
  describeCheck,
} from "./pipeline/article-check.js";
import { articlePython } from "./pipeline/article-python.js";

const { values: flags } = parseArgs({ options: { verbose: { type: "boolean", default: false } } });
const log = (text: string) => process.stdout.write(`${text}\n`);
cleanUpOnSignals();

try {
  const python = await articlePython(log, flags.verbose);
  const repository = await mkdtemp(join(tmpdir(), "sluice-bench-"));
  removeLater(repository);
  await cp(join(REPO_ROOT, "examples/models/fraud"), join(repository, "fraud"), {
    recursive: true,
  });
  const sidecar = await startChild<{ grpcPort: number }>(
    "bench/servers/sidecar-server.ts",
    [repository],
    { verbose: flags.verbose },
  );
  log(`checking ${CHECK_EVENTS} synthetic events…`);
  const check = await checkArticle(python, `127.0.0.1:${sidecar.ready.grpcPort}`);
  await sidecar.stop();
  log(describeCheck(check));
  for (const problem of check.problems) log(`  ${problem}`);
  process.exitCode = checkPassed(check) ? 0 : 1;
} finally {
  cleanUp();
}
