/**
 * The producer thread of `PlatformaticThreadProducer`: one @platformatic/kafka producer, set up
 * as on the caller's thread (`newProducer`), sending the packed micro-batches it is handed in
 * shared memory with the same coalescing (one request in flight, what arrives meanwhile goes
 * together in the next), and answering each when the brokers have acknowledged it or the send
 * has failed.
 */
import { parentPort, workerData } from "node:worker_threads";
import { asError, errorMessage } from "@sluice/kit";
import { withSecurityReason } from "./kafka-security.js";
import { unpackMessages } from "./packed-records.js";
import {
  coalescedSender,
  newProducer,
  type PlatformaticProducerSettings,
} from "./platformatic-producer.js";
import type { ProducerReply, ProducerRequest, WireError } from "./platformatic-thread-producer.js";

const port = parentPort;
if (port === null) throw new Error("platformatic-producer-worker must run in a worker thread");

const producer = newProducer(workerData as PlatformaticProducerSettings);
const sender = coalescedSender(producer);

function reply(message: ProducerReply): void {
  port!.postMessage(message);
}

/** How deep `wireError` looks into the errors a failure gathers. */
const MAX_DEPTH = 3;

/** The messages of the errors `error` gathers (the library's MultipleErrors), nested ones too. */
function gathered(error: unknown, depth = 0): string[] {
  const { errors } = (error ?? {}) as { errors?: unknown };
  if (!Array.isArray(errors) || depth === MAX_DEPTH) return [];
  return errors.flatMap((inner) => [errorMessage(inner), ...gathered(inner, depth + 1)]);
}

/**
 * What the caller's thread gets of a failure: its message, with those of the errors it gathers
 * and what it says about TLS or SASL, its name, its code.
 */
function wireError(error: unknown): WireError {
  const reported = withSecurityReason(error);
  const inner = [...new Set(gathered(reported))];
  const message = errorMessage(reported) + (inner.length > 0 ? ` (${inner.join("; ")})` : "");
  const { name, code } = (reported ?? {}) as { name?: unknown; code?: unknown };
  return {
    name: typeof name === "string" ? name : "Error",
    message,
    ...(typeof code === "string" ? { code } : {}),
  };
}

port.on("message", (request: ProducerRequest) => {
  if (request.type === "close") {
    void producer
      .close()
      .catch(() => {})
      .finally(() => {
        reply({ type: "closed" });
        port.close();
      });
    return;
  }
  const { id, shared, length, count, strings } = request;
  let sent: Promise<void>;
  try {
    // Views of the shared memory, not copies: the caller's thread leaves it alone until answered.
    const bytes = new Uint8Array(shared, 0, length);
    sent = sender.send(unpackMessages({ bytes, count, strings }));
  } catch (error) {
    sent = Promise.reject(asError(error));
  }
  sent.then(
    () => reply({ type: "sent", id }),
    (error: unknown) => reply({ type: "failed", id, error: wireError(error) }),
  );
});
