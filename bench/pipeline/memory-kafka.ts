/**
 * An in-memory `KafkaClient` for bench/consumer-path.bench.ts: the pipeline's Kafka port with no
 * broker behind it, so only the consumer's own work is measured. Every partition's records are
 * handed over in fetches of `FETCH_RECORDS` (what @platformatic/kafka brings per partition when
 * draining a backlog), all partitions at once, the next fetch once the batch in hand returns, from
 * the offset after the last one resolved. A produce is acknowledged after `ackMs` (a timer per
 * request, as a broker round trip would take), a commit at once.
 *
 * Fetches are handed over only during a phase (`phase(events)`): from its start until `events`
 * more records are resolved, then the batches in hand finish. Two pipelines on two of these, given
 * phases in turn, run interleaved in one process, and each phase's CPU is its pipeline's alone.
 */
import type {
  ConsumerRunOptions,
  InputRecord,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransactionalProducer,
  OutputRecord,
  PartitionBatch,
} from "@sluice/consumer";

/** Records per partition per fetch: @platformatic/kafka's 1 MiB per partition of these events. */
const FETCH_RECORDS = 2_500;

export interface MemoryKafkaOptions {
  /** A produce request's acknowledgement comes after this many ms. */
  readonly ackMs: number;
}

/** What one phase did: events resolved, and the wall and CPU time from its start to its end. */
export interface PhaseFigures {
  readonly events: number;
  readonly ms: number;
  /** µs of this process's CPU (user + system, all threads). */
  readonly cpuUs: number;
}

export class MemoryKafka implements KafkaClient {
  /** Records the pipeline produced (predictions, review copies, dead letters). */
  produced = 0;
  readonly #topic: string;
  readonly #partitions: readonly (readonly InputRecord[])[];
  readonly #options: MemoryKafkaOptions;
  readonly #gate = new Gate();
  #handedOut = false;

  constructor(
    topic: string,
    partitions: readonly (readonly InputRecord[])[],
    options: MemoryKafkaOptions,
  ) {
    this.#topic = topic;
    this.#partitions = partitions;
    this.#options = options;
  }

  /** Records not resolved yet. */
  get remaining(): number {
    return this.#gate.remaining;
  }

  /**
   * Hands over fetches until `events` more records are resolved (or none are left), waits for
   * the batches in hand, and says what the phase took.
   */
  async phase(events: number): Promise<PhaseFigures> {
    const start = counters();
    await this.#gate.run(events);
    const end = counters();
    return {
      events: this.#gate.lastPhaseEvents,
      ms: end.at - start.at,
      cpuUs: end.cpu.user + end.cpu.system - (start.cpu.user + start.cpu.system),
    };
  }

  /**
   * The first consumer reads the events; any later one (the label topic's, with monitoring) is
   * assigned no partition and fetches nothing.
   */
  consumer(): KafkaConsumer {
    if (this.#handedOut) return new MemoryConsumer(this.#topic, [], new Gate());
    this.#handedOut = true;
    this.#gate.remaining = this.#partitions.reduce((sum, records) => sum + records.length, 0);
    return new MemoryConsumer(this.#topic, this.#partitions, this.#gate);
  }

  producer(): KafkaProducer {
    return {
      connect: () => Promise.resolve(),
      send: (records: readonly OutputRecord[]) => this.#acknowledge(records.length),
      disconnect: () => Promise.resolve(),
    };
  }

  transactionalProducer(): KafkaTransactionalProducer {
    return {
      connect: () => Promise.resolve(),
      sendWithOffsets: (records: readonly OutputRecord[]) => this.#acknowledge(records.length),
      assigned: () => {},
      disconnect: () => Promise.resolve(),
    };
  }

  ensureTopics(): Promise<string[]> {
    return Promise.resolve([]);
  }

  #acknowledge(count: number): Promise<void> {
    this.produced += count;
    return new Promise((resolve) => setTimeout(resolve, this.#options.ackMs));
  }
}

const counters = () => ({ at: performance.now(), cpu: process.cpuUsage() });

/** When fetches may be handed over, and how many records are resolved. */
class Gate {
  remaining = 0;
  lastPhaseEvents = 0;
  #open = false;
  #target = 0;
  #inHand = 0;
  #waiting: (() => void)[] = [];
  #phaseDone: (() => void) | undefined;

  /** Resolves when a fetch may be handed over (at once during a phase). */
  async enter(): Promise<void> {
    while (!this.#open) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#inHand++;
  }

  left(): void {
    this.#inHand--;
    this.#check();
  }

  resolved(count: number): void {
    this.remaining -= count;
    this.lastPhaseEvents += count;
    if (this.lastPhaseEvents >= this.#target || this.remaining <= 0) this.#open = false;
    this.#check();
  }

  run(events: number): Promise<void> {
    this.lastPhaseEvents = 0;
    this.#target = events;
    this.#open = this.remaining > 0;
    const done = new Promise<void>((resolve) => (this.#phaseDone = resolve));
    for (const wake of this.#waiting.splice(0)) wake();
    this.#check();
    return done;
  }

  /** Stops handing over for good (the pipeline is stopping). */
  release(): void {
    this.#open = true;
    this.remaining = 0;
    for (const wake of this.#waiting.splice(0)) wake();
  }

  #check(): void {
    if (!this.#open && this.#inHand === 0 && this.#phaseDone !== undefined) {
      const done = this.#phaseDone;
      this.#phaseDone = undefined;
      done();
    }
  }
}

class MemoryConsumer implements KafkaConsumer {
  readonly #topic: string;
  readonly #partitions: readonly (readonly InputRecord[])[];
  readonly #gate: Gate;
  readonly #assignment: ((assigned: { topic: string; partition: number }[]) => void)[] = [];
  readonly #paused = new Map<number, () => void>();
  readonly #loops: Promise<void>[] = [];
  #stopping = false;

  constructor(topic: string, partitions: readonly (readonly InputRecord[])[], gate: Gate) {
    this.#topic = topic;
    this.#partitions = partitions;
    this.#gate = gate;
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  subscribe(): Promise<void> {
    return Promise.resolve();
  }

  run({ eachBatch }: ConsumerRunOptions): Promise<void> {
    const assigned = this.#partitions.map((_, partition) => ({ topic: this.#topic, partition }));
    for (const listener of this.#assignment) listener(assigned);
    // Every partition at once: the benchmark uses as many partitions as the pipeline's concurrency.
    this.#partitions.forEach((records, partition) =>
      this.#loops.push(this.#consume(partition, records, eachBatch)),
    );
    return Promise.resolve();
  }

  commit(): Promise<void> {
    return Promise.resolve();
  }

  resume(_topic: string, partition: number): void {
    this.#paused.get(partition)?.();
  }

  onAssignment(listener: (assigned: { topic: string; partition: number }[]) => void): void {
    this.#assignment.push(listener);
  }

  onCrash(): void {}

  async disconnect(): Promise<void> {
    this.#stopping = true;
    this.#gate.release();
    for (const resume of this.#paused.values()) resume();
    await Promise.all(this.#loops);
  }

  async #consume(
    partition: number,
    records: readonly InputRecord[],
    eachBatch: (batch: PartitionBatch) => Promise<void>,
  ): Promise<void> {
    let position = 0;
    while (!this.#stopping && position < records.length) {
      await this.#gate.enter();
      if (this.#stopping) return;
      const fetched = records.slice(position, position + FETCH_RECORDS);
      let resolved = position;
      let paused: Promise<void> | undefined;
      await eachBatch({
        topic: this.#topic,
        partition,
        records: fetched,
        highWatermark: String(records.length),
        resolveOffset: (offset) => {
          const next = Number(offset) + 1;
          this.#gate.resolved(next - resolved);
          resolved = next;
        },
        isRunning: () => !this.#stopping,
        isStale: () => false,
        pause: () => {
          paused = new Promise((resume) => this.#paused.set(partition, () => resume()));
          return () => this.resume(this.#topic, partition);
        },
      });
      this.#gate.left();
      if (paused !== undefined) await paused;
      this.#paused.delete(partition);
      // Nothing resolved (a linger): the same records again on the next turn, as a refetch would.
      if (resolved === position) await new Promise((resolve) => setImmediate(resolve));
      position = resolved;
    }
  }
}
