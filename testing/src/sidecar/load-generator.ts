/**
 * Continuous concurrent load for the hot-swap tests: `loops` client loops, each sending its next
 * request as soon as the previous one answered, recording which version answered each request and
 * every failure. Requests of one loop are sequential, so its versions must never go backwards once
 * a swap is done; that is what `regressions()` checks.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ServiceError } from "@grpc/grpc-js";
import type { ModelInferRequestSchema, ModelInferResponse } from "@sluice/proto";
import type { ProtocolClient } from "./test-sidecar.js";
import { waitFor, type WaitOptions } from "../wait.js";

type InferRequest = MessageInitShape<typeof ModelInferRequestSchema>;

/** A request must answer within this even on a busy machine; a hang then fails instead of stalling the test. */
const REQUEST_DEADLINE_MS = 30_000;
/** Failures kept with their details; beyond this they are only counted (a broken server fails fast and often). */
const KEPT_FAILURES = 50;

export interface LoadOptions {
  /** Channels the loops share, round-robin. */
  readonly clients: readonly ProtocolClient[];
  /** @default 16 */
  readonly loops?: number;
  /** The `n`-th request of loop `loop`. */
  readonly request: (loop: number, n: number) => InferRequest;
  /** Throws when a response is wrong; the request then counts as failed. */
  readonly check?: (response: ModelInferResponse, request: InferRequest) => void;
}

export interface Sample {
  /** The `model_version` of the response: the version that computed it. */
  readonly version: string;
  /** performance.now() when the request was sent and when its response came. */
  readonly sentAt: number;
  readonly receivedAt: number;
}

export interface Failure {
  readonly loop: number;
  readonly sentAt: number;
  readonly code: number | undefined;
  readonly message: string;
}

export class LoadGenerator {
  /** Per loop, in order. */
  readonly samples: Sample[][];
  readonly failures: Failure[] = [];
  failureCount = 0;
  private stopped = false;
  private readonly running: Promise<void>[];

  constructor(private readonly options: LoadOptions) {
    const loops = options.loops ?? 16;
    this.samples = Array.from({ length: loops }, () => []);
    this.running = Array.from({ length: loops }, (_, loop) => this.loop(loop));
  }

  private async loop(loop: number): Promise<void> {
    const client = this.options.clients[loop % this.options.clients.length]!;
    for (let n = 0; !this.stopped; n++) {
      const request = this.options.request(loop, n);
      const sentAt = performance.now();
      try {
        const response = await client.infer(request, { deadlineMs: REQUEST_DEADLINE_MS });
        this.options.check?.(response, request);
        this.samples[loop]!.push({
          version: response.modelVersion,
          sentAt,
          receivedAt: performance.now(),
        });
      } catch (error) {
        this.failureCount++;
        if (this.failures.length < KEPT_FAILURES) {
          const { code, message } = error as Partial<ServiceError>;
          this.failures.push({ loop, sentAt, code, message: message ?? String(error) });
        }
      }
    }
  }

  /** Successful responses so far. */
  get completed(): number {
    return this.samples.reduce((sum, samples) => sum + samples.length, 0);
  }

  /** Waits until `count` more requests succeeded (the load is really running around an action). */
  async waitForMore(count: number, options?: WaitOptions): Promise<void> {
    const target = this.completed + count;
    await waitFor(`${count} more successful requests`, () => this.completed >= target, options);
  }

  /** Waits until every loop has received a response from `version`. */
  async waitUntilEveryLoopSaw(version: string, options?: WaitOptions): Promise<void> {
    await waitFor(
      `every load loop to be answered by version ${version}`,
      () => this.samples.every((samples) => samples.some((sample) => sample.version === version)),
      options,
    );
  }

  /** The versions that answered, with how many requests each. */
  versionCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const sample of this.samples.flat())
      counts.set(sample.version, (counts.get(sample.version) ?? 0) + 1);
    return counts;
  }

  /** Where a loop was answered by an older version after a newer one; empty when every loop moved forward only. */
  regressions(): string[] {
    const found: string[] = [];
    this.samples.forEach((samples, loop) => {
      let newest = -Infinity;
      samples.forEach((sample, i) => {
        const version = Number(sample.version);
        if (version < newest)
          found.push(
            `loop ${loop}, request ${i}: version ${sample.version} after version ${newest}`,
          );
        newest = Math.max(newest, version);
      });
    });
    return found;
  }

  /** Stops every loop after its request in flight, and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }
}
