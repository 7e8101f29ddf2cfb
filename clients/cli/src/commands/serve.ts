/** `sluice serve`: runs the inference sidecar until SIGTERM/SIGINT, then drains and exits. */
import { readFile } from "node:fs/promises";
import { Option, type Command } from "commander";
import {
  DEFAULT_GRPC_PORT,
  DEFAULT_HOST,
  DEFAULT_METRICS_PORT,
  DEFAULT_POLL_SECS,
  MODEL_CONTROL_MODES,
  startSidecar,
  type ModelControlMode,
} from "@sluice/server";
import { startTelemetry } from "../telemetry.js";
import { integer } from "../flags/parsers.js";
import { addHelp } from "../output/help.js";

interface ServeFlags {
  modelRepository: string;
  host: string;
  grpcPort: number;
  metricsPort: number;
  modelControlMode: ModelControlMode;
  repositoryPollSecs: number;
  loadModel: string[];
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  adminTokenFile?: string;
  maxMessageBytes?: number;
  logLevel: string;
}

export function registerServe(program: Command): void {
  const command = program
    .command("serve")
    .description(
      "run the inference sidecar: Open Inference Protocol (KServe V2) over gRPC, ONNX Runtime, dynamic batching",
    )
    .requiredOption(
      "--model-repository <dir>",
      "folder holding <model>/<version>/model.onnx (+ <model>/config.yaml)",
    )
    .option("--host <address>", "address to listen on (0.0.0.0 for all interfaces)", DEFAULT_HOST)
    .option(
      "--grpc-port <port>",
      "gRPC port (0 picks a free one)",
      integer("--grpc-port", 0, 65535),
      DEFAULT_GRPC_PORT,
    )
    .option(
      "--metrics-port <port>",
      "Prometheus /metrics port (-1 turns it off)",
      integer("--metrics-port", -1, 65535),
      DEFAULT_METRICS_PORT,
    )
    .addOption(
      new Option(
        "--model-control-mode <mode>",
        "none: load all at start; poll: also apply repository changes; explicit: only the repository RPCs load/unload",
      )
        .choices(MODEL_CONTROL_MODES)
        .default("none"),
    )
    .option(
      "--repository-poll-secs <n>",
      "rescan interval in poll mode",
      integer("--repository-poll-secs", 1, 86400),
      DEFAULT_POLL_SECS,
    )
    .option(
      "--load-model <name>",
      "model to load at start in explicit mode (repeatable; * for all)",
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option("--tls-cert <file>", "PEM certificate chain: serve TLS")
    .option("--tls-key <file>", "PEM private key for --tls-cert")
    .option("--tls-client-ca <file>", "PEM CA bundle: require client certificates (mutual TLS)")
    .option(
      "--admin-token-file <file>",
      "file holding the bearer token that RepositoryModelLoad/Unload require (or env SLUICE_ADMIN_TOKEN)",
    )
    .option(
      "--max-message-bytes <n>",
      "largest gRPC message accepted or sent",
      integer("--max-message-bytes", 1024, 2 ** 31 - 1),
    )
    .option(
      "--log-level <level>",
      "trace, debug, info, warn, error",
      process.env["LOG_LEVEL"] ?? "info",
    );
  addHelp(command, {
    notes:
      "Runs until SIGTERM or SIGINT, then stops taking requests, finishes the queued ones and exits 0.",
    examples: [
      "sluice serve --model-repository examples/models",
      "sluice serve --model-repository examples/models --model-control-mode poll --repository-poll-secs 5",
      "SLUICE_ADMIN_TOKEN=s3cret-token sluice serve --model-repository examples/models --model-control-mode explicit --load-model fraud",
    ],
  });
  command.action(async (flags: ServeFlags) => {
    if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
      throw new Error("--tls-cert and --tls-key go together: give both or neither");
    }
    if (flags.tlsClientCa !== undefined && flags.tlsCert === undefined) {
      throw new Error("--tls-client-ca needs --tls-cert and --tls-key");
    }
    const adminToken = flags.adminTokenFile
      ? (await readFile(flags.adminTokenFile, "utf8")).trim()
      : process.env["SLUICE_ADMIN_TOKEN"] || undefined;
    const telemetry = await startTelemetry("sluice-server");
    const sidecar = await startSidecar({
      modelRepository: flags.modelRepository,
      host: flags.host,
      grpcPort: flags.grpcPort,
      metricsPort: flags.metricsPort,
      modelControlMode: flags.modelControlMode,
      repositoryPollSecs: flags.repositoryPollSecs,
      loadModels: flags.loadModel,
      tls: flags.tlsCert
        ? {
            cert: await readFile(flags.tlsCert),
            key: await readFile(flags.tlsKey!),
            clientCa: flags.tlsClientCa ? await readFile(flags.tlsClientCa) : undefined,
          }
        : undefined,
      adminToken,
      maxMessageBytes: flags.maxMessageBytes,
      logLevel: flags.logLevel,
    });
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`${signal}: draining queued requests, then exiting\n`);
      void sidecar
        .close()
        .then(() => telemetry.shutdown())
        .then(
          () => process.exit(0),
          (error: unknown) => {
            process.stderr.write(`error: shutdown failed: ${(error as Error).message}\n`);
            process.exit(1);
          },
        );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
