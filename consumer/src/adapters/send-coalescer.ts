/**
 * One produce request for the micro-batches of every partition that finished at about the same
 * time. The idempotent producer keeps one request in flight, so eight partitions sending their own
 * batches wait behind each other, each paying a full round trip and a request's encoding. Here a
 * send that arrives while another is in flight waits for it, then goes out together with all that
 * arrived meanwhile: the dynamic batcher's idea, applied to the producer. An idle coalescer sends at
 * the end of the current turn of the event loop (`setImmediate`), so the partitions whose
 * micro-batches finished together (those of one fetch response) share the first request too.
 *
 * Each caller's records stay contiguous and in order, and a caller resolves only once the request
 * holding its records is acknowledged; when that request fails, every caller in it gets the error
 * and retries its own micro-batch.
 */
export class SendCoalescer<T> {
  readonly #send: (records: readonly T[]) => Promise<void>;
  #queued:
    { records: T[]; waiters: { resolve(): void; reject(error: unknown): void }[] } | undefined;
  #busy = false;
  #scheduled = false;

  constructor(send: (records: readonly T[]) => Promise<void>) {
    this.#send = send;
  }

  send(records: readonly T[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const queued = (this.#queued ??= { records: [], waiters: [] });
      for (const record of records) queued.records.push(record);
      queued.waiters.push({ resolve, reject });
      if (!this.#busy && !this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          if (!this.#busy) this.#flush();
        });
      }
    });
  }

  #flush(): void {
    const batch = this.#queued;
    this.#queued = undefined;
    if (batch === undefined) {
      this.#busy = false;
      return;
    }
    this.#busy = true;
    // A send that throws instead of rejecting is turned into a rejection by the async wrapper.
    const sent = (async () => this.#send(batch.records))();
    sent.then(
      () => {
        for (const waiter of batch.waiters) waiter.resolve();
        this.#flush();
      },
      (error: unknown) => {
        for (const waiter of batch.waiters) waiter.reject(error);
        this.#flush();
      },
    );
  }
}
