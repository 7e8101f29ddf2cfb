/**
 * The at-least-once producer in a worker thread of its own (platformatic-producer-worker.ts).
 *
 * At the maximum drain the consumer's thread is the pipeline's bottleneck, and the producer took
 * about a sixth of it: @platformatic/kafka builds each record from some thirty small Buffers,
 * compresses the batch and writes it, and the garbage collector clears up after it. Here this
 * thread only packs each micro-batch's records into one buffer (packed-records.ts) and hands it
 * over in shared memory; the worker sends the records, views of that memory, with the same
 * producer, settings and coalescing as `PlatformaticProducer`, and answers when the brokers have
 * acknowledged them. The memory goes back to a pool then, for a later micro-batch.
 *
 * Shared memory from a pool rather than a transferred ArrayBuffer: no new buffer of half a
 * megabyte per micro-batch, which V8 counts as external memory and answers with earlier garbage
 * collections. (Either way the hand-over costs the consumer's thread about 0.3 ms of wall time
 * per micro-batch on a busy 2-core machine, its CPU time far less: most likely the scheduler
 * handing the core to the worker it wakes.)
 *
 * A send resolves or rejects exactly as on the caller's thread, and a failed send is the caller's
 * to retry. If the thread dies, its pending sends reject and the next send starts a new one.
 */
import type { Worker } from "node:worker_threads";
import { asError, startWorker, workerModuleUrl } from "@sluice/kit";
import type { KafkaProducer, OutputRecord } from "../ports/kafka.js";
import { RecordPacker, type PackedRecords } from "./packed-records.js";
import type { PlatformaticProducerSettings } from "./platformatic-producer.js";

/** To the worker: records packed in `shared`'s first `length` bytes, which are its until it answers. */
export type ProducerRequest =
  | {
      readonly type: "send";
      readonly id: number;
      readonly shared: SharedArrayBuffer;
      readonly length: number;
      readonly count: number;
      readonly strings: readonly string[];
    }
  | { readonly type: "close" };

/** A failure as it crosses threads: its message, and its name and code when it has them. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

/** From the worker. */
export type ProducerReply =
  | { readonly type: "sent"; readonly id: number }
  | { readonly type: "failed"; readonly id: number; readonly error: WireError }
  | { readonly type: "closed" };

const WORKER_URL = workerModuleUrl("platformatic-producer-worker", import.meta.url);
/** How long a closing worker may take to close its connections before it is stopped. */
const CLOSE_TIMEOUT_MS = 10_000;

/** Shared memory is allocated in steps of this, the smallest piece too. */
const SHARED_STEP = 64 * 1024;
/** Pieces of shared memory kept for reuse, at most. */
const MAX_FREE_SHARED = 8;

interface Pending {
  readonly shared: SharedArrayBuffer;
  resolve(): void;
  reject(error: Error): void;
}

export class PlatformaticThreadProducer implements KafkaProducer {
  readonly #settings: PlatformaticProducerSettings;
  readonly #packer = new RecordPacker();
  readonly #pending = new Map<number, Pending>();
  /** Shared memory no send holds, for the next ones. */
  readonly #free: SharedArrayBuffer[] = [];
  #worker: Worker | undefined;
  /** Resolves when the current thread runs; rejects if it exits first. */
  #online: Promise<void> = Promise.resolve();
  #nextId = 0;
  #disconnected = false;

  constructor(settings: PlatformaticProducerSettings) {
    this.#settings = settings;
  }

  /** Starts the thread; its producer connects on the first send. */
  connect(): Promise<void> {
    this.#start();
    return this.#online;
  }

  send(records: readonly OutputRecord[]): Promise<void> {
    if (this.#disconnected) {
      return Promise.reject(new Error("the producer is disconnected: it sends no more"));
    }
    if (records.length === 0) return Promise.resolve();
    let packed: PackedRecords;
    try {
      packed = this.#packer.pack(records);
    } catch (error) {
      return Promise.reject(asError(error));
    }
    const worker = this.#start();
    const id = this.#nextId++;
    const { bytes, count, strings } = packed;
    const shared = this.#shared(bytes.length);
    new Uint8Array(shared).set(bytes);
    return new Promise<void>((resolve, reject) => {
      // A thread with sends in flight keeps the process alive; an idle one does not.
      if (this.#pending.size === 0) worker.ref();
      this.#pending.set(id, { shared, resolve, reject });
      const request: ProducerRequest = {
        type: "send",
        id,
        shared,
        length: bytes.length,
        count,
        strings,
      };
      worker.postMessage(request);
    });
  }

  async disconnect(): Promise<void> {
    this.#disconnected = true;
    const worker = this.#worker;
    if (worker === undefined) return;
    this.#worker = undefined;
    worker.ref();
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    const request: ProducerRequest = { type: "close" };
    worker.postMessage(request);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
    });
    await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    await worker.terminate();
    this.#failPending(new Error("the producer was disconnected before the brokers answered"));
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = startWorker(WORKER_URL, { workerData: this.#settings });
    worker.unref();
    this.#online = new Promise<void>((resolve, reject) => {
      worker.once("online", resolve);
      worker.once("exit", (code) =>
        reject(new Error(`the producer thread exited (code ${code}) while starting`)),
      );
    });
    // Only `connect` waits for it; a send to a thread that never ran fails on its own.
    this.#online.catch(() => {});
    worker.on("message", (reply: ProducerReply) => this.#answer(reply, worker));
    worker.on("error", (error: Error) => {
      this.#lost(
        worker,
        new Error(`the producer thread failed: ${error.message}`, { cause: error }),
      );
    });
    worker.on("exit", (code) => {
      this.#lost(worker, new Error(`the producer thread exited (code ${code})`));
    });
    this.#worker = worker;
    return worker;
  }

  /** Shared memory of at least `bytes`: a free piece, or a new one. */
  #shared(bytes: number): SharedArrayBuffer {
    const found = this.#free.findIndex((piece) => piece.byteLength >= bytes);
    if (found >= 0) return this.#free.splice(found, 1)[0]!;
    return new SharedArrayBuffer(Math.ceil(bytes / SHARED_STEP) * SHARED_STEP || SHARED_STEP);
  }

  #answer(reply: ProducerReply, worker: Worker): void {
    if (reply.type === "closed") return;
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    // The worker is done with the records: the memory may hold the next ones.
    if (this.#free.length < MAX_FREE_SHARED) this.#free.push(pending.shared);
    if (this.#pending.size === 0 && this.#worker === worker) worker.unref();
    if (reply.type === "sent") pending.resolve();
    else pending.reject(Object.assign(new Error(reply.error.message), reply.error));
  }

  /** The thread is gone: what it had in flight fails, and the next send starts another. */
  #lost(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#failPending(error);
  }

  #failPending(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
