/**
 * The Python the article variant runs in: a virtualenv under `.cache/bench-article-venv`, made on
 * first use with the machine's `python3 -m venv` and pip, from `bench/article/requirements.txt`.
 * A stamp holding the requirements file's hash marks it complete, so an interrupted install or
 * changed pins make it again; otherwise it is reused as is.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { REPO_ROOT } from "../lib/child.js";

export const ARTICLE_DIR = join(REPO_ROOT, "bench/article");
export const ARTICLE_SCRIPT = join(ARTICLE_DIR, "article_consumer.py");
const REQUIREMENTS = join(ARTICLE_DIR, "requirements.txt");
const VENV = join(REPO_ROOT, ".cache/bench-article-venv");
const STAMP = join(VENV, ".sluice-requirements.sha256");
/** The machine's Python; override with SLUICE_BENCH_PYTHON (it needs the venv module, 3.11+). */
const PYTHON_ENV = "SLUICE_BENCH_PYTHON";
/** pip reaching the package index on a slow network: a few minutes at most. */
const INSTALL_TIMEOUT_MS = 10 * 60_000;

/** Runs a command, its output kept (and echoed when `verbose`); rejects with its tail on failure. */
function run(command: string, args: readonly string[], verbose: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const output: string[] = [];
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString("utf8"));
      if (verbose) process.stderr.write(chunk);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const timer = setTimeout(() => child.kill("SIGKILL"), INSTALL_TIMEOUT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${command}: cannot start it: ${error.message}`, { cause: error }));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const tail = output.join("").trimEnd().split("\n").slice(-15).join("\n");
      reject(
        new Error(
          `${command} ${args.join(" ")}: expected exit code 0, got ${signal ?? code}; its last output:\n${tail}`,
        ),
      );
    });
  });
}

/**
 * The venv's python, made first if missing or stale; `log` hears what is being done (the first
 * run installs onnxruntime, numpy and confluent-kafka: tens of MB).
 */
export async function articlePython(log: (line: string) => void, verbose = false): Promise<string> {
  const python = join(VENV, "bin/python");
  const wanted = createHash("sha256")
    .update(await readFile(REQUIREMENTS))
    .digest("hex");
  const stamp = await readFile(STAMP, "utf8").catch(() => "");
  if (stamp.trim() === wanted && existsSync(python)) return python;

  const where = relative(REPO_ROOT, VENV);
  const system = process.env[PYTHON_ENV] ?? "python3";
  log(
    `article: making the Python virtualenv ${where} (first use, or ${relative(REPO_ROOT, REQUIREMENTS)} changed)`,
  );
  await rm(VENV, { recursive: true, force: true });
  log(`article: ${system} -m venv ${where}`);
  await run(system, ["-m", "venv", VENV], verbose);
  log(`article: pip install -r ${relative(REPO_ROOT, REQUIREMENTS)} (may take a minute)`);
  const started = Date.now();
  await run(
    python,
    ["-m", "pip", "install", "--disable-pip-version-check", "-r", REQUIREMENTS],
    verbose,
  );
  await writeFile(STAMP, `${wanted}\n`);
  log(`article: virtualenv ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return python;
}
