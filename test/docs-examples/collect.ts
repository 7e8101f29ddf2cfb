/**
 * The command examples a user can copy: the `$ …` lines of every `sluice` command's help, and the
 * command lines of the fenced `sh`, `bash`, `shell` and `console` blocks of every Markdown file in
 * the repository. Which of them run where, and which cannot run here and why, is decided here too.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { createProgram } from "@sluice/cli";
import { REPO_ROOT } from "@sluice/testing";

/** One command line and every place that prints it. */
export interface Example {
  readonly line: string;
  readonly sources: string[];
}

/** Every example, each line once, in the order first seen. */
export function collectExamples(): Example[] {
  const byLine = new Map<string, Example>();
  const add = (printed: string, source: string): void => {
    const line = normalized(printed);
    const example = byLine.get(line) ?? { line, sources: [] };
    example.sources.push(source);
    byLine.set(line, example);
  };
  for (const [line, source] of helpExamples()) add(line, source);
  for (const [line, source] of markdownExamples()) add(line, source);
  return [...byLine.values()];
}

/**
 * One form of each command line: `npx sluice` is `sluice` (npx only finds the workspace's bin), a
 * trailing `&` (run in the background) goes, and so do repeated spaces.
 */
function normalized(line: string): string {
  return line
    .replace(/(^|[\s"(])npx sluice /g, "$1sluice ")
    .replace(/\s*&$/, "")
    .replace(/ {2,}/g, " ")
    .trim();
}

/** `[line, "sluice X --help"]` for every `$ …` line of every command's help. */
function helpExamples(): [string, string][] {
  const found: [string, string][] = [];
  const visit = (command: Command, path: string[]): void => {
    let help = "";
    command.configureOutput({ writeOut: (text) => (help += text) });
    command.outputHelp();
    for (const match of help.matchAll(/^ {2}\$ (.+)$/gm)) {
      found.push([withoutComment(match[1] ?? ""), `sluice ${path.join(" ")} --help`.trim()]);
    }
    for (const sub of command.commands) visit(sub, [...path, sub.name()]);
  };
  visit(createProgram(), []);
  return found;
}

const SHELL_BLOCKS = new Set(["sh", "bash", "shell"]);

/** `[line, "FILE:LINE"]` for the commands in every Markdown file's shell and console blocks. */
function markdownExamples(): [string, string][] {
  const files = execFileSync("git", ["ls-files", "*.md"], { cwd: REPO_ROOT, encoding: "utf8" })
    .split("\n")
    .filter((file) => file !== "");
  const found: [string, string][] = [];
  for (const file of files) {
    const lines = readFileSync(join(REPO_ROOT, file), "utf8").split("\n");
    let language: string | undefined;
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i] ?? "";
      const fence = /^\s*```(\w*)/.exec(text);
      if (fence !== null) {
        language = language === undefined ? (fence[1] ?? "") : undefined;
        continue;
      }
      if (language === undefined) continue;
      const at = `${file}:${i + 1}`;
      if (language === "console") {
        const prompt = /^\s*\$ (.+)$/.exec(text);
        if (prompt !== null) found.push([withoutComment(prompt[1] ?? ""), at]);
      } else if (SHELL_BLOCKS.has(language)) {
        let command = text;
        while (command.endsWith("\\") && i + 1 < lines.length) {
          command = `${command.slice(0, -1).trimEnd()} ${(lines[++i] ?? "").trim()}`;
        }
        const line = withoutComment(command);
        if (line !== "") found.push([line, at]);
      }
    }
  }
  return found;
}

/** The line without a trailing `# comment` (a `#` outside quotes after a space), trimmed. */
function withoutComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if (char === "#" && (i === 0 || /\s/.test(line[i - 1] ?? ""))) {
      return line.slice(0, i).trim();
    }
  }
  return line.trim();
}

/** The `sluice` subcommand an example runs (`stack` for `sluice stack up`), if it runs one. */
export function sluiceCommand(line: string): string | undefined {
  return /(?:^|[\s"(])(?:npx )?sluice ([a-z][\w-]*)/.exec(line)?.[1];
}

/**
 * Examples that cannot run in this test, each with the reason and what checks it instead. Every
 * entry must match an example (a stale entry fails the test), and every example that is not a
 * `sluice` command must match one.
 */
export const NOT_RUN_HERE: readonly { readonly pattern: RegExp; readonly reason: string }[] = [
  {
    pattern: /^npm ci(?: && npm test)?$|^npm (?:test(?: -- [\w-]+)*|run (?:lint|typecheck))$/,
    reason:
      "the install and the checks CI runs exactly so (.ci/run); this test is part of npm test",
  },
  {
    pattern: /^npm run chaos(?: -- (?:--[\w-]+ [\w.-]+ ?)+)?$/,
    reason:
      "kills and freezes consumers, the sidecar, Redis and a broker for about ten minutes; test/pipeline-process.test.ts, pipeline-recovery, pipeline-failures and pipeline-broker-restart run the quick versions",
  },
  {
    pattern: /^npm run soak(?: -- (?:--[\w-]+ [\w.-]+ ?)+)?$/,
    reason:
      "a steady load for ten minutes and more, a measurement rather than a test; its result is in docs/reliability.md",
  },
  {
    pattern: /^npm ci && npm run demo$/,
    reason: "the interactive demo runs until Ctrl-C; test/demo.test.ts runs it with --duration",
  },
  {
    pattern: /^docker compose /,
    reason:
      "needs Docker, which the test machine does not have; test/deploy.test.ts validates docker-compose.yml",
  },
  {
    pattern: /^kubectl /,
    reason:
      "needs a Kubernetes cluster; test/deploy.test.ts builds the overlays with kustomize and checks them with kubeconform",
  },
  {
    pattern: /^uptime$|^node --conditions=source --import tsx bench\//,
    reason:
      "benchmarks run for minutes and are not tests (bench/README.md); their results are in docs/benchmarks.md",
  },
  {
    pattern:
      /^apt-get install |^eval "\$\(scripts\/node\.sh env\)"$|^CKJS_LINKING=dynamic npm ci --prefix bench\/kafka-clients$/,
    reason:
      "installs the Kafka client benchmarks' optional clients and Node.js 24 (root, minutes); benchmarks only",
  },
  {
    pattern:
      /^scripts\/jaeger\.sh run|^export OTEL_EXPORTER_OTLP_ENDPOINT=|^curl -s 'http:\/\/127\.0\.0\.1:16686\//,
    reason:
      "Jaeger built from source takes about 11 minutes; test/trace-e2e.test.ts runs this trace end to end",
  },
  {
    pattern:
      /^test\/compat\/prepare\.sh$|^mvn -q -f test\/compat\/|^java -jar test\/compat\/|^G="\$\(test\/compat\/install-grpcurl\.sh\)"$|^\$G -plaintext /,
    reason:
      "the compatibility clients: npm test's preparation builds them and test/compat.test.ts runs them against a sidecar",
  },
  {
    pattern: /^python3 (?:-m pip install -r )?scripts\/models\//,
    reason:
      "retraining the example models needs scikit-learn and minutes; the committed models are what every test serves",
  },
];
