/**
 * What the CLI's tests share: the real program run in-process with its output captured, and a stub
 * server that lives as long as the test file.
 */
import { after, before } from "node:test";
import { join } from "node:path";
import {
  EXAMPLE_MODELS,
  makeRepository,
  startTestSidecar,
  type InferenceImpl,
  type ProgramRun,
  type StubServer,
  authorized,
  captured,
  startStubServer,
  unauthenticated,
} from "@sluice/testing";
import { createProgram, runSluice } from "./program.js";

/** Runs `sluice ARGS` as main.ts does: the exit code and what it printed to stdout and stderr. */
export function sluice(...args: string[]): Promise<ProgramRun> {
  return captured((output) => runSluice(args, { output }));
}

/** The help a user sees for `sluice COMMAND --help`. */
export function helpOf(...names: string[]): string {
  let help = "";
  let command = createProgram({ writeOut: (text) => (help += text) });
  for (const name of names) {
    const sub = command.commands.find((candidate) => candidate.name() === name);
    if (sub === undefined) throw new Error(`no command "${names.join(" ")}"`);
    command = sub;
  }
  command.outputHelp();
  return help;
}

/**
 * A real sidecar on a copy of examples/models' `fraud` (versions 1 and 2, labels stable and
 * canary), started before the file's tests and closed after them; `prepare` may add models to the
 * repository first. Resolves to its address.
 */
export function sidecarForFile(prepare?: (repository: string) => Promise<void>): () => string {
  let sidecar: Awaited<ReturnType<typeof startTestSidecar>> | undefined;
  let remove: (() => Promise<void>) | undefined;
  before(async () => {
    const repository = await makeRepository({ fraud: join(EXAMPLE_MODELS, "fraud") });
    remove = () => repository.remove();
    await prepare?.(repository.dir);
    sidecar = await startTestSidecar({ modelRepository: repository.dir });
  });
  after(async () => {
    await sidecar?.close();
    await remove?.();
  });
  return () => {
    if (sidecar === undefined) throw new Error("the sidecar starts in before()");
    return `127.0.0.1:${sidecar.grpcPort}`;
  };
}

/** A stub server started before the file's tests and closed after them; resolves to its address. */
export function stubServerForFile(implementation: InferenceImpl): () => string {
  let server: StubServer | undefined;
  before(async () => {
    server = await startStubServer(implementation);
  });
  after(() => server?.close());
  return () => {
    if (server === undefined) throw new Error("the stub server starts in before()");
    return server.url;
  };
}

type Handler<Call extends { metadata: Parameters<typeof authorized>[0] }, Callback> = (
  call: Call,
  callback: Callback,
) => void;

/** A repository handler that answers UNAUTHENTICATED, as the sidecar does, without the stub's token. */
export function withToken<
  Call extends { metadata: Parameters<typeof authorized>[0] },
  Callback extends (error: ReturnType<typeof unauthenticated>) => void,
>(handler: Handler<Call, Callback>): Handler<Call, Callback> {
  return (call, callback) => {
    if (!authorized(call.metadata)) return callback(unauthenticated());
    handler(call, callback);
  };
}
