/**
 * How the set of models changes while the server runs (Triton's model-control modes): "none"
 * loads every model at start and never changes; "poll" also applies what changes in the
 * repository; "explicit" loads only what the repository RPCs (and --load-model) ask for.
 */
import { errorMessage, type Logger } from "@sluice/kit";
import type { ModelRepository } from "../repository/model-repository.js";
import type { ModelManager } from "./model-manager.js";

export const MODEL_CONTROL_MODES = ["none", "poll", "explicit"] as const;
export type ModelControlMode = (typeof MODEL_CONTROL_MODES)[number];

/** The models to load at start: all in modes none and poll, those named in explicit mode. */
export async function loadStartupModels(
  manager: ModelManager,
  repository: ModelRepository,
  mode: ModelControlMode,
  loadModels: readonly string[],
  logger: Logger,
): Promise<void> {
  if (mode !== "explicit") return manager.loadAll();
  const names = loadModels.includes("*") ? await repository.listModels() : loadModels;
  for (const name of names) {
    await manager
      .load(name)
      .catch((error: unknown) =>
        logger.error({ model: name, reason: errorMessage(error) }, "startup model failed to load"),
      );
  }
}

export interface Poller {
  /** Stops polling; resolves once a poll in progress has finished. */
  stop(): Promise<void>;
}

/** Poll mode: rescans the repository every `intervalSecs`, one scan at a time. */
export function startPolling(manager: ModelManager, intervalSecs: number, logger: Logger): Poller {
  let polling: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(() =>
      manager
        .poll()
        .catch((error: unknown) =>
          logger.error({ reason: errorMessage(error) }, "repository poll failed"),
        ),
    );
  }, intervalSecs * 1000);
  // A poll that is due must not keep a process alive that is otherwise done.
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return polling;
    },
  };
}
