/**
 * Calls made in one turn of the event loop, sent as one. A fetch response hands over the records
 * of several partitions at once, and their micro-batches reach the store, the sidecar and the
 * commit in the same turn; at a low rate each holds a handful of events, and each such call costs
 * a round trip, a socket write and the other side's per-call work whatever its size (at 2,000
 * events/s over 8 partitions that was ~250 µs of CPU per event, docs/benchmarks.md). Merged, the
 * partitions that arrived together pay for one call.
 *
 * - A request waits at most for the end of the current turn (`setImmediate`), never for a timer.
 * - Requests that may share a call have the same `key`; a merged call holds at most `limit` (by
 *   `size`: rows, events). A request of more than half the limit goes at once, alone: there is
 *   little to merge it with, and waiting would only delay it.
 * - Each caller gets its own part of the answer, or the merged call's error; `alone` names the
 *   errors that one request's content may cause (a row the model rejects), after which the merged
 *   requests are sent again one by one, so one caller's bad input fails only that caller.
 * - A merged call runs in the first caller's context (its trace), and `around` may wrap it (a span
 *   that links to the other callers').
 */
import { context, type Context } from "@opentelemetry/api";

export interface TurnCoalescerOptions<Req, Res> {
  /** One call for `requests`: one answer per request, in their order. */
  readonly run: (requests: readonly Req[]) => Promise<readonly Res[]>;
  /** What a request counts against the limit. */
  readonly size: (request: Req) => number;
  /** The most one merged call holds. */
  readonly limit: number;
  /** Requests with the same key may share a call. @default all share */
  readonly key?: (request: Req) => unknown;
  /** Errors of a merged call after which its requests are sent again one by one. @default none */
  readonly alone?: (error: unknown) => boolean;
  /** Wraps a merged call of several callers, given their contexts (the first's is active). */
  readonly around?: <T>(callers: readonly Context[], call: () => Promise<T>) => Promise<T>;
}

interface Waiting<Req, Res> {
  readonly request: Req;
  readonly context: Context;
  resolve(answer: Res): void;
  reject(error: unknown): void;
}

interface Group<Req, Res> {
  size: number;
  readonly waiting: Waiting<Req, Res>[];
}

export class TurnCoalescer<Req, Res> {
  readonly #options: TurnCoalescerOptions<Req, Res>;
  readonly #groups = new Map<unknown, Group<Req, Res>>();
  #scheduled = false;
  /** Merged calls made, and the requests in them: what merging saved. */
  readonly counts = { calls: 0, requests: 0 };

  constructor(options: TurnCoalescerOptions<Req, Res>) {
    this.#options = options;
  }

  call(request: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const { size, limit, key } = this.#options;
      const waiting: Waiting<Req, Res> = { request, context: context.active(), resolve, reject };
      const weight = size(request);
      if (weight * 2 > limit) {
        this.#send([waiting]);
        return;
      }
      const k = key?.(request);
      let group = this.#groups.get(k);
      if (group !== undefined && group.size + weight > limit) {
        this.#groups.delete(k);
        this.#send(group.waiting);
        group = undefined;
      }
      if (group === undefined) this.#groups.set(k, (group = { size: 0, waiting: [] }));
      group.waiting.push(waiting);
      group.size += weight;
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const groups = [...this.#groups.values()];
    this.#groups.clear();
    for (const group of groups) this.#send(group.waiting);
  };

  #send(waiting: readonly Waiting<Req, Res>[]): void {
    this.counts.calls++;
    this.counts.requests += waiting.length;
    const first = waiting[0]!.context;
    const around = this.#options.around;
    const call = () => this.#call(waiting);
    const sent =
      waiting.length > 1 && around !== undefined
        ? context.with(first, () =>
            around(
              waiting.map((w) => w.context),
              call,
            ),
          )
        : context.with(first, call);
    sent.catch((error: unknown) => {
      for (const w of waiting) w.reject(error);
    });
  }

  /** The call, then each caller's answer; one by one again after an `alone` error. */
  async #call(waiting: readonly Waiting<Req, Res>[]): Promise<void> {
    let answers: readonly Res[];
    try {
      answers = await this.#options.run(waiting.map((w) => w.request));
    } catch (error) {
      if (waiting.length === 1 || !this.#options.alone?.(error)) throw error;
      await Promise.all(
        waiting.map((w) =>
          context
            .with(w.context, async () => this.#options.run([w.request]))
            .then(
              ([answer]) => w.resolve(answer!),
              (failure: unknown) => w.reject(failure),
            ),
        ),
      );
      return;
    }
    if (answers.length !== waiting.length) {
      throw new Error(
        `expected ${waiting.length} answers from a merged call, got ${answers.length}`,
      );
    }
    for (let i = 0; i < waiting.length; i++) waiting[i]!.resolve(answers[i]!);
  }
}
