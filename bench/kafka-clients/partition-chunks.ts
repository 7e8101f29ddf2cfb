/**
 * kafkajs's `eachBatch` shape for clients that hand over records one by one or in mixed batches
 * (@platformatic/kafka's stream, librdkafka's `consume(n)`): records are queued per partition, and
 * each partition with records waiting passes on up to CHUNK of them at a time (produce, wait for
 * the acknowledgement, commit), in order, with up to PARTITIONS_IN_FLIGHT partitions at once.
 * The caller stops fetching once `full` and starts again on `onRoom`, so memory stays bounded and
 * records are fetched only as fast as they go out.
 */
import { CHUNK, PARTITIONS_IN_FLIGHT } from "./passthrough-settings.js";

/** Records waiting across partitions above which the caller should stop fetching. */
const MAX_WAITING = 2 * CHUNK * PARTITIONS_IN_FLIGHT;
/** Fetching may start again once this few wait. */
const ROOM_BELOW = CHUNK * PARTITIONS_IN_FLIGHT;

export class PartitionChunks<R extends { readonly partition: number }> {
  readonly #passOn: (partition: number, chunk: R[]) => Promise<void>;
  readonly #onError: (error: unknown) => void;
  readonly #queues = new Map<number, R[]>();
  readonly #busy = new Set<number>();
  #waiting = 0;
  #scheduled = false;
  #idle: (() => void) | undefined;
  /** Called after a chunk when few records wait: a caller that stopped fetching starts again. */
  onRoom: () => void = () => {};

  /**
   * @param passOn handles one partition's chunk; the partition's next chunk waits for it
   * @param onError a failed chunk: the records are neither passed on nor committed
   */
  constructor(
    passOn: (partition: number, chunk: R[]) => Promise<void>,
    onError: (error: unknown) => void,
  ) {
    this.#passOn = passOn;
    this.#onError = onError;
  }

  /** True while so many records wait that the caller should stop fetching. */
  get full(): boolean {
    return this.#waiting >= MAX_WAITING;
  }

  add(record: R): void {
    let queue = this.#queues.get(record.partition);
    if (queue === undefined) this.#queues.set(record.partition, (queue = []));
    queue.push(record);
    this.#waiting++;
    // Records often arrive as a synchronous burst (one fetch response): scheduling once after the
    // burst lets a partition's first chunk take all of its records, not just the first one.
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#schedule();
      });
    }
  }

  /** Resolves once no chunk is being passed on. */
  idle(): Promise<void> {
    if (this.#busy.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#idle = resolve));
  }

  #schedule(): void {
    for (const [partition, queue] of this.#queues) {
      if (this.#busy.size >= PARTITIONS_IN_FLIGHT) return;
      if (this.#busy.has(partition) || queue.length === 0) continue;
      const chunk = queue.splice(0, CHUNK);
      this.#busy.add(partition);
      this.#passOn(partition, chunk).then(() => {
        this.#busy.delete(partition);
        this.#waiting -= chunk.length;
        if (this.#waiting < ROOM_BELOW) this.onRoom();
        if (this.#busy.size === 0) this.#idle?.();
        this.#schedule();
      }, this.#onError);
    }
  }
}
