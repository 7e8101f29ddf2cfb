/**
 * Test support for the consumer's micro-batch: features without a store. An event's row is its
 * `x` field; an event with `bad: true` fails as a feature that cannot be computed does
 * (`feature_error`), the rest of its batch goes on. Every call is kept; `failWith` fails the calls
 * as a whole, as a store that is down does.
 */
import {
  ConsumerError,
  type FeatureEvent,
  type FeatureExtractor,
  type FeatureOutcome,
} from "@sluice/consumer";

export class FakeFeatures implements Pick<FeatureExtractor, "width" | "compute"> {
  readonly width = 1;
  /** The events of each call, in order. */
  readonly calls: FeatureEvent[][] = [];
  failWith: ConsumerError | undefined;

  /** `eventTime` is every event's time, epoch milliseconds. */
  constructor(readonly eventTime = 1_700_000_000_000) {}

  compute(events: readonly FeatureEvent[]): Promise<FeatureOutcome[]> {
    this.calls.push([...events]);
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    return Promise.resolve(
      events.map((event): FeatureOutcome => {
        const { x, bad } = event.value as { x: number; bad?: boolean };
        if (bad === true) {
          const error = new ConsumerError("feature_error", `feature "x": cannot use ${x}`, {
            retryable: false,
          });
          return { ok: false, error };
        }
        return { ok: true, row: Float32Array.of(x), eventTime: this.eventTime, entity: "u" };
      }),
    );
  }
}
