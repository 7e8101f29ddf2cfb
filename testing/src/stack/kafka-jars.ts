/**
 * The Kafka broker's jars, fetched once from Maven Central by Maven (kafka/pom.xml) and cached per
 * version in a git-ignored folder. No Docker image, no tarball: Maven is the one download channel
 * the project's machines have for Java artifacts.
 */
import { readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StackError } from "./stack-error.js";
import { findExecutable, runCommand } from "./run-command.js";

/**
 * The pinned broker version. 3.9.x, not 4.x: it is the last line that still accepts every protocol
 * version kafkajs 2.2.4 may send (4.0 removed old versions, KIP-896), and it runs KRaft without
 * ZooKeeper. Must equal `kafka.version` in kafka/pom.xml (a unit test pins it).
 */
export const KAFKA_VERSION = "3.9.1";
/** Kafka 3.9 brokers run on Java 11 or newer (17 is what the project's machines have). */
export const MIN_JAVA_MAJOR = 11;
/** The pom Maven reads; beside src/ and dist/ alike. */
export const KAFKA_POM = fileURLToPath(new URL("../../kafka/pom.xml", import.meta.url));
/** How often a long fetch reports that it is still going. */
const PROGRESS_EVERY_MS = 5_000;

/** `<cacheDir>/<version>/lib`: the folder `java -cp '<lib>/*'` reads. */
export function kafkaLibDir(cacheDir: string, version = KAFKA_VERSION): string {
  return join(cacheDir, version, "lib");
}

/** True when `lib` holds a complete fetch (it only ever appears complete: see ensureKafkaJars). */
export async function hasKafkaJars(lib: string, version = KAFKA_VERSION): Promise<boolean> {
  try {
    return (await readdir(lib)).includes(`kafka_2.13-${version}.jar`);
  } catch {
    return false;
  }
}

export interface FetchOptions {
  cacheDir: string;
  timeoutMs: number;
  progress: (line: string) => void;
}

/**
 * The jars' folder, fetching them first when missing. The fetch goes to a private folder renamed
 * into place at the end, so an interrupted fetch is never taken as complete and two concurrent
 * fetches do not mix files.
 */
export async function ensureKafkaJars({
  cacheDir,
  timeoutMs,
  progress,
}: FetchOptions): Promise<string> {
  const lib = kafkaLibDir(cacheDir);
  if (await hasKafkaJars(lib)) return lib;

  const mvn = findExecutable("mvn");
  if (mvn === undefined) {
    throw new StackError(
      "missing_tool",
      `mvn is not on PATH: the Kafka ${KAFKA_VERSION} jars are fetched once with Maven (Debian: apt-get install -y maven), or set KAFKA_BROKERS to use a Kafka that already runs`,
    );
  }
  const partial = `${lib}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  progress(
    `fetching the Apache Kafka ${KAFKA_VERSION} jars with Maven (first run only, ~46 MB) into ${lib}`,
  );
  const started = performance.now();
  let downloaded = 0;
  const ticker = setInterval(() => {
    const seconds = Math.round((performance.now() - started) / 1000);
    progress(`still fetching: ${downloaded} file(s) downloaded in ${seconds} s`);
  }, PROGRESS_EVERY_MS);
  let result;
  try {
    result = await runCommand(
      mvn,
      [
        "-B",
        "-f",
        KAFKA_POM,
        `-Dkafka.version=${KAFKA_VERSION}`,
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        `-DoutputDirectory=${partial}`,
      ],
      {
        timeoutMs,
        onLine: (line) => {
          if (line.includes("Downloaded from")) downloaded++;
        },
      },
    );
  } finally {
    clearInterval(ticker);
  }
  if (result.code !== 0 || !(await hasKafkaJars(partial))) {
    await rm(partial, { recursive: true, force: true });
    const why = result.timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${result.code}`;
    throw new StackError(
      "fetch_failed",
      `fetching the Kafka ${KAFKA_VERSION} jars failed: mvn ${why}, expected kafka_2.13-${KAFKA_VERSION}.jar in ${partial}. Maven's last output:\n${result.output}`,
    );
  }
  try {
    await rename(partial, lib);
  } catch (error) {
    // Another fetch finished first (the target exists and is not empty): use it, drop ours.
    await rm(partial, { recursive: true, force: true });
    if (!(await hasKafkaJars(lib))) throw StackError.from(error, "fetch_failed");
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  progress(
    `fetched the Kafka ${KAFKA_VERSION} jars in ${seconds} s (${downloaded} file(s) downloaded)`,
  );
  return lib;
}

/** The `java` to run Kafka with; throws MISSING_TOOL when there is none or it is too old. */
export async function requireJava(): Promise<string> {
  const java = findExecutable("java");
  if (java === undefined) {
    throw new StackError(
      "missing_tool",
      `java is not on PATH: Kafka needs a Java ${MIN_JAVA_MAJOR}+ runtime (Debian: apt-get install -y openjdk-17-jre-headless), or set KAFKA_BROKERS to use a Kafka that already runs`,
    );
  }
  const { output } = await runCommand(java, ["-version"], { timeoutMs: 30_000 });
  const major = javaMajorVersion(output);
  if (major === undefined || major < MIN_JAVA_MAJOR) {
    throw new StackError(
      "missing_tool",
      `Kafka ${KAFKA_VERSION} needs Java ${MIN_JAVA_MAJOR} or newer, got ${major === undefined ? JSON.stringify(output.split("\n")[0] ?? "") : `Java ${major}`} from ${java}`,
    );
  }
  return java;
}

/** The major version in `java -version` output: 'openjdk version "17.0.15"' → 17, "1.8.0_x" → 8. */
export function javaMajorVersion(output: string): number | undefined {
  const version = /version "([^"]+)"/.exec(output)?.[1];
  if (version === undefined) return undefined;
  const [first, second] = version.split(/[.+-]/).map(Number);
  return first === 1 ? second : first;
}
