/**
 * The benchmark's account of what came out: a kafkajs consumer (its own group, committing nothing)
 * reading a variant's output topic from the beginning. For every output record it keeps the event's
 * own time (`event_time` of a prediction, `timestamp` of a passed-through event) and the record's
 * broker timestamp. Output topics are created with `message.timestamp.type=LogAppendTime`, so that
 * timestamp is when the broker appended the output, not when a client says it sent it.
 *
 * Events are told apart by phase through their ids, `tx-<runId>-<n>` (the synthetic generator's).
 * A duplicate (at-least-once after a retry) is counted once, at its first appearance.
 */
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { registerKafkajsZstd } from "@sluice/consumer";

// fraud.yaml's outputs are zstd-compressed (`kafka.compression`).
registerKafkajsZstd();

/** Outputs of one phase (one producer run). */
export class PhaseOutputs {
  readonly #seen = new Set<number>();
  /** Epoch ms, in arrival order. */
  readonly eventTimes: number[] = [];
  readonly appendTimes: number[] = [];
  duplicates = 0;

  get count(): number {
    return this.eventTimes.length;
  }

  add(sequence: number, eventTime: number, appendTime: number): void {
    if (this.#seen.has(sequence)) {
      this.duplicates++;
      return;
    }
    this.#seen.add(sequence);
    this.eventTimes.push(eventTime);
    this.appendTimes.push(appendTime);
  }
}

/** The parts of an output value the benchmark reads. */
interface OutputValue {
  readonly id?: unknown;
  readonly event_time?: unknown;
  readonly timestamp?: unknown;
}

/** How long an idle fetch of the reader waits: short, so the wait for a phase's last outputs is short. */
const READER_MAX_WAIT_MS = 100;

export class OutputReader {
  readonly groupId: string;
  /** Output records the reader could not attribute to a phase (should stay 0). */
  unattributed = 0;
  readonly #consumer: Consumer;
  readonly #phases = new Map<string, PhaseOutputs>();

  private constructor(consumer: Consumer, groupId: string) {
    this.#consumer = consumer;
    this.groupId = groupId;
  }

  static async start(
    brokers: readonly string[],
    topic: string,
    groupId: string,
  ): Promise<OutputReader> {
    // Quiet: right after the topic is created kafkajs logs (and retries) "not the leader" errors.
    const kafka = new Kafka({
      clientId: groupId,
      brokers: [...brokers],
      logLevel: logLevel.NOTHING,
    });
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: READER_MAX_WAIT_MS });
    const reader = new OutputReader(consumer, groupId);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: ({ batch }) => {
        for (const message of batch.messages) reader.#record(message.value, message.timestamp);
        return Promise.resolve();
      },
    });
    return reader;
  }

  /** The outputs of phase `runId` seen so far. */
  phase(runId: string): PhaseOutputs {
    let outputs = this.#phases.get(runId);
    if (outputs === undefined) this.#phases.set(runId, (outputs = new PhaseOutputs()));
    return outputs;
  }

  /** Resolves true once `count` distinct outputs of `runId` were read, false after `timeoutMs`. */
  async waitFor(runId: string, count: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const outputs = this.phase(runId);
    while (outputs.count < count) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  }

  stop(): Promise<void> {
    return this.#consumer.disconnect();
  }

  #record(value: Buffer | null, timestamp: string): void {
    let parsed: OutputValue | null;
    try {
      parsed = JSON.parse(value?.toString("utf8") ?? "null") as OutputValue | null;
    } catch {
      parsed = null;
    }
    if (parsed === null || typeof parsed !== "object") {
      this.unattributed++;
      return;
    }
    const id = typeof parsed.id === "string" ? parsed.id : "";
    const time = parsed.event_time ?? parsed.timestamp;
    const dash = id.lastIndexOf("-");
    const eventTime = typeof time === "string" ? Date.parse(time) : NaN;
    if (!id.startsWith("tx-") || dash < 3 || !Number.isFinite(eventTime)) {
      this.unattributed++;
      return;
    }
    this.phase(id.slice(3, dash)).add(Number(id.slice(dash + 1)), eventTime, Number(timestamp));
  }
}
