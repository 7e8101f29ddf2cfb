/**
 * Retries with full-jitter exponential backoff (kit's backoffDelay, "full" jitter): attempt n waits
 * a uniformly random time in [0, min(maxBackoff, initialBackoff * 2^(n-1))). Randomising the whole
 * wait spreads the retries of many clients that failed together (a sidecar restart fails all of
 * them at once) instead of having them hit the server again in lockstep.
 */
import { status } from "@grpc/grpc-js";
import { backoffDelay, sleep } from "@sluice/kit";
import { InferenceError } from "@sluice/proto";

/** How failed calls are retried. Only UNAVAILABLE and RESOURCE_EXHAUSTED are ever retried. */
export interface RetryPolicy {
  /** Attempts in total, the first included; 1 turns retries off. */
  readonly maxAttempts: number;
  /** Upper bound of the first wait. */
  readonly initialBackoffMs: number;
  /** Upper bound of any wait, however many attempts came before. */
  readonly maxBackoffMs: number;
}

/**
 * The wait before retry number `retry` (1 for the wait after the first attempt): full jitter, so a
 * value in [0, min(maxBackoffMs, initialBackoffMs * 2^(retry-1))).
 */
export function backoffDelayMs(
  policy: RetryPolicy,
  retry: number,
  random: () => number = Math.random,
): number {
  return backoffDelay(retry, { ...policy, jitter: "full" }, random);
}

/** Time, injectable so the policy can be tested without waiting. */
export interface RetryClock {
  now(): number;
  /** Resolves after `ms`, rejects with an AbortError when `signal` aborts first. */
  sleep(ms: number, signal: AbortSignal | undefined): Promise<void>;
}

const systemClock: RetryClock = {
  now: () => Date.now(),
  sleep,
};

export interface RetryContext {
  readonly policy: RetryPolicy;
  /** Absolute end of the whole call (ms since the epoch): no retry starts a wait it cannot finish. */
  readonly deadline: number;
  readonly signal?: AbortSignal | undefined;
  /** Called before each wait, e.g. to record the retry on the call's span. */
  readonly onRetry?: (error: InferenceError, retry: number, delayMs: number) => void;
  readonly random?: () => number;
  readonly clock?: RetryClock;
}

/**
 * Runs `attempt` until it succeeds, fails with a code that is not retryable, runs out of attempts,
 * or would run out of time. Gives up with the last attempt's error: it says more than a generic
 * "deadline exceeded" would. An abort of `signal` during a wait rejects with CANCELLED at once.
 */
export async function withRetry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  context: RetryContext,
): Promise<T> {
  const { policy, deadline, signal } = context;
  const clock = context.clock ?? systemClock;
  for (let attemptNumber = 1; ; attemptNumber++) {
    let error: InferenceError;
    try {
      return await attempt(attemptNumber);
    } catch (thrown) {
      error = InferenceError.from(thrown);
    }
    if (!error.retryable || attemptNumber >= policy.maxAttempts) throw error;
    const delayMs = backoffDelayMs(policy, attemptNumber, context.random);
    // Waiting past the deadline would only turn a meaningful error into DEADLINE_EXCEEDED.
    if (clock.now() + delayMs >= deadline) throw error;
    context.onRetry?.(error, attemptNumber, delayMs);
    try {
      await clock.sleep(delayMs, signal);
    } catch (aborted) {
      throw new InferenceError(
        status.CANCELLED,
        `call aborted while waiting to retry after: ${error.details}`,
        { cause: signal?.reason ?? aborted },
      );
    }
  }
}
