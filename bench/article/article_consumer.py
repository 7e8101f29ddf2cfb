#!/usr/bin/env python3
"""The article's consumer: the plain Python prediction consumer that "Real-Time Prediction
Pipelines Using Kafka and Python" describes, written for the fraud example so the pipeline
benchmark can run it beside Sluice on the same events (the `article` variant).

What the article prescribes, and this does:

- confluent-kafka's Consumer in a consumer group, polled one message at a time, auto-commit off;
- micro-batches of 100 messages, or fewer after a short wait;
- features computed in the consumer, stateful ones from per-user windows kept in process memory
  (the article's "in-memory state management"), static reference data (each user's home country)
  as a dict;
- the model in-process (ONNX Runtime, warmed up once at load), one call per micro-batch;
- predictions produced to the output topic (linger 10 ms, acks from all replicas), offsets
  committed manually every 5 s, synchronously.

Where it departs from the article's listing, and why:

- Offsets are those of processed messages, committed after `producer.flush()`. The listing commits
  the consumer's position without flushing, which can commit polled-but-unprocessed messages and
  predictions still in the producer's queue; the article's text asks for commits "only after
  successful prediction and output", which is what this does (at-least-once).
- A micro-batch is processed when it is full or when its first message waited BATCH_TIMEOUT_S
  (the low end of the article's "100ms-1s"); the listing only flushes a partial batch when a poll
  comes back empty, which never happens under steady load.
- `auto.offset.reset` is `earliest`: the benchmark's topics are filled before or while the group
  joins. No compression: the benchmark's reader (kafkajs) reads no snappy, and the other variants
  do not compress either.
- Outputs are keyed by the input key and carry the same JSON fields as Sluice's predictions, so the
  benchmark measures every variant the same way. Events that cannot be featurised go to the
  dead-letter topic with the reason, as the article's "dead letter queues" suggest.

The 20 features (fraud_features.py) are those of examples/pipelines/fraud.yaml
(examples/models/README.md, "Input layout"); `check` mode prints them with the model's output for
the benchmark's equality check.

    python article_consumer.py run '<VariantSettings JSON>' --model MODEL.onnx --homes HOMES.json
    python article_consumer.py check --model MODEL.onnx --homes HOMES.json  < events.jsonl

`run` speaks the benchmark's child protocol (bench/lib/child.ts): one {"benchReady": {}} line on
stdout once subscribed, {"benchStages": ...} on SIGUSR2, a graceful stop on SIGTERM or when stdin
closes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time

import numpy as np
import onnxruntime as ort
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from fraud_features import FraudFeatures

BATCH_SIZE = 100  # the article's micro-batch
BATCH_TIMEOUT_S = 0.1  # the low end of the article's micro-batch period (100 ms - 1 s)
COMMIT_INTERVAL_S = 5.0  # the article's periodic commit


def log(text: str) -> None:
    print(f"article: {text}", file=sys.stderr, flush=True)


def iso_utc(ms: int) -> str:
    """As JavaScript's toISOString: 2024-03-07T12:31:29.609Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


class OnnxModel:
    """The model in-process, loaded and warmed up once, as the article's ModelManager does."""

    def __init__(self, path: str, version: str):
        options = ort.SessionOptions()
        # examples/models/fraud/config.yaml gives the sidecar one thread each, and so here.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.version = version
        self.predict(np.zeros((1, 20), dtype=np.float32))

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels and class probabilities, one row per feature row."""
        labels, probabilities = self.session.run(["label", "probabilities"], {"features": features})
        return labels, probabilities


def seven_digits(x: float) -> float:
    """What FP32 holds, without its binary noise in the JSON (as Sluice writes probabilities)."""
    return float(f"{x:.7g}")


class StageTimes:
    """Wall time per stage, printed for the benchmark on SIGUSR2 (bench/pipeline/stage-times.ts)."""

    def __init__(self) -> None:
        self.stages: dict[str, list[float]] = {}
        self.since = time.perf_counter()

    def add(self, stage: str, items: int, seconds: float) -> None:
        figures = self.stages.get(stage)
        if figures is None:
            figures = self.stages[stage] = [0, 0, 0.0, 0.0]
        figures[0] += 1
        figures[1] += items
        figures[2] += seconds
        figures[3] = max(figures[3], seconds)

    def take(self) -> dict:
        now = time.perf_counter()
        report = {
            "seconds": now - self.since,
            "stages": {
                name: {
                    "calls": calls,
                    "items": items,
                    "meanMs": 1000 * total / calls,
                    "maxMs": 1000 * longest,
                }
                for name, (calls, items, total, longest) in self.stages.items()
            },
            # No event loop here.
            "loopDelayP99Ms": None,
            "loopDelayMaxMs": None,
        }
        self.stages = {}
        self.since = now
        return report


class RealtimePredictionConsumer:
    """Kafka in, features and model in-process, Kafka out: the article's consumer."""

    def __init__(self, settings: dict, model: OnnxModel, features: FraudFeatures):
        self.model = model
        self.features = features
        self.input_topic = settings["topics"]["input"]
        self.output_topic = settings["topics"]["output"]
        self.dead_letter_topic = settings["topics"]["deadLetter"]
        self.times = StageTimes()
        self.running = True
        self.batch: list = []
        # Next offset to commit per (topic, partition): the processed messages only.
        self.processed: dict[tuple[str, int], int] = {}
        self.delivery_errors: list[str] = []
        bootstrap_servers = ",".join(settings["brokers"])
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": settings["groupId"],
                "client.id": settings["groupId"],
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "max.poll.interval.ms": 300000,
                "session.timeout.ms": 60000,
                "fetch.min.bytes": 1024,
                "fetch.wait.max.ms": 500,
            }
        )
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": settings["groupId"],
                "linger.ms": 10,
                "acks": "all",
            }
        )
        self.consumer.subscribe([self.input_topic], on_revoke=self.on_revoke)

    def extract_features(self, data: dict) -> tuple[list[float], int]:
        return self.features.extract(data)

    def process_batch(self, messages: list) -> list[tuple[dict | None, object, str | None]]:
        """(prediction, message, None) or (None, message, why) per message, in order."""
        started = time.perf_counter()
        rows = []
        outcomes: list = []
        for msg in messages:
            try:
                data = json.loads(msg.value())
                feature_vector, event_time = self.extract_features(data)
            except Exception as error:  # a malformed event goes to the dead letters, not the model
                outcomes.append((None, msg, f"{type(error).__name__}: {error}"))
                continue
            outcomes.append(((data, event_time, len(rows)), msg, None))
            rows.append(feature_vector)
        featured = time.perf_counter()
        self.times.add("features", len(messages), featured - started)
        if not rows:
            return outcomes

        # Batch prediction: one model call per micro-batch.
        labels, probabilities = self.model.predict(np.asarray(rows, dtype=np.float32))
        self.times.add("infer", len(rows), time.perf_counter() - featured)

        predicted_at = iso_utc(int(time.time() * 1000))
        results = []
        for what, msg, why in outcomes:
            if what is None:
                results.append((None, msg, why))
                continue
            data, event_time, row = what
            p = [seven_digits(x) for x in probabilities[row].tolist()]
            key = msg.key()
            event_id = data.get("id")
            if not isinstance(event_id, str) or event_id == "":
                event_id = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
            result = {
                "id": event_id,
                "key": None if key is None else key.decode("utf-8"),
                "model": "fraud",
                "model_version": self.model.version,
                "label": int(labels[row]),
                "score": p[1],
                "probabilities": p,
                "confidence": max(p),
                "event_time": iso_utc(event_time),
                "predicted_at": predicted_at,
            }
            results.append((result, msg, None))
        return results

    def process_and_send_batch(self, batch: list) -> None:
        if not batch:
            return
        started = time.perf_counter()
        results = self.process_batch(batch)
        producing = time.perf_counter()
        for result, msg, why in results:
            if result is None:
                self.send(self.dead_letter_topic, msg.key(), msg.value(),
                          [("sluice-error-message", why.encode("utf-8"))])
            else:
                self.send(self.output_topic, msg.key(), json.dumps(result).encode("utf-8"))
            self.processed[(msg.topic(), msg.partition())] = msg.offset() + 1
        # Serve delivery reports; flush() before each commit waits for the rest.
        self.producer.poll(0)
        done = time.perf_counter()
        self.times.add("produce", len(results), done - producing)
        self.times.add("eachBatch", len(batch), done - started)

    def send(self, topic: str, key, value: bytes, headers=None) -> None:
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers,
                                      on_delivery=self.delivery_report)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self.producer.poll(0.05)

    def delivery_report(self, err, msg) -> None:
        if err is not None:
            self.delivery_errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    def commit(self) -> None:
        """Commits what was processed, once its outputs are acknowledged (at-least-once)."""
        started = time.perf_counter()
        remaining = self.producer.flush(30)
        if remaining > 0 or self.delivery_errors:
            # Never commit past an output that was not delivered: stop, and be redelivered.
            raise RuntimeError(
                f"outputs not delivered ({remaining} still queued after 30 s; "
                f"failed: {self.delivery_errors[:3]}); not committing"
            )
        if self.processed:
            offsets = [TopicPartition(t, p, o) for (t, p), o in self.processed.items()]
            self.consumer.commit(offsets=offsets, asynchronous=False)
            self.times.add("commit", len(offsets), time.perf_counter() - started)
            self.processed.clear()

    def on_revoke(self, consumer, partitions) -> None:
        # Partitions move to another member: finish and commit what was taken from them.
        self.process_and_send_batch(self.batch)
        self.batch = []
        try:
            self.commit()
        except KafkaException as error:
            log(f"commit on revoke failed: {error}")

    def run(self, batch_size: int = BATCH_SIZE, batch_timeout: float = BATCH_TIMEOUT_S) -> None:
        """Main consumption loop with micro-batching."""
        last_commit = time.monotonic()
        deadline = 0.0
        try:
            while self.running:
                timeout = batch_timeout if not self.batch else max(deadline - time.monotonic(), 0)
                msg = self.consumer.poll(timeout=timeout)
                if msg is not None:
                    if msg.error():
                        log(f"consumer error: {msg.error()}")
                    else:
                        if not self.batch:
                            deadline = time.monotonic() + batch_timeout
                        self.batch.append(msg)
                if self.batch and (len(self.batch) >= batch_size or time.monotonic() >= deadline):
                    batch, self.batch = self.batch, []
                    self.process_and_send_batch(batch)
                if time.monotonic() - last_commit > COMMIT_INTERVAL_S:
                    self.commit()
                    last_commit = time.monotonic()
        finally:
            try:
                batch, self.batch = self.batch, []
                self.process_and_send_batch(batch)
                self.commit()
            finally:
                self.consumer.close()


def load_homes(path: str) -> dict[str, str]:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def serve(settings: dict, model_path: str, model_version: str, homes_path: str) -> None:
    features = FraudFeatures(load_homes(homes_path))
    model = OnnxModel(model_path, model_version)
    consumer = RealtimePredictionConsumer(settings, model, features)

    def stop(signum, frame) -> None:
        consumer.running = False

    def report(signum, frame) -> None:
        print(json.dumps({"benchStages": consumer.times.take()}), flush=True)

    def stop_with_parent() -> None:
        for _ in sys.stdin.buffer:
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR2, report)
    threading.Thread(target=stop_with_parent, daemon=True).start()
    print(json.dumps({"benchReady": {}}), flush=True)
    consumer.run()


def check(model_path: str, model_version: str, homes_path: str) -> None:
    """Features and model outputs for the JSON events on stdin, in batches as `run` makes them."""
    features = FraudFeatures(load_homes(homes_path))
    model = OnnxModel(model_path, model_version)
    lines = [line for line in sys.stdin.buffer if line.strip()]
    out = sys.stdout
    for start in range(0, len(lines), BATCH_SIZE):
        rows, errors = [], []
        for line in lines[start:start + BATCH_SIZE]:
            try:
                rows.append(features.extract(json.loads(line))[0])
                errors.append(None)
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
        scored = iter(())
        if rows:
            labels, probabilities = model.predict(np.asarray(rows, dtype=np.float32))
            scored = zip(rows, labels.tolist(), probabilities.tolist())
        for error in errors:
            if error is not None:
                out.write(json.dumps({"error": error}) + "\n")
                continue
            row, label, p = next(scored)
            row32 = np.asarray(row, dtype=np.float32).tolist()
            out.write(json.dumps({"features": row32, "label": label, "probabilities": p}) + "\n")
    out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["run", "check"])
    parser.add_argument("settings", nargs="?", help="run: the benchmark's VariantSettings JSON")
    parser.add_argument("--model", required=True, help="the model.onnx the Sluice variant serves")
    parser.add_argument("--model-version", default="1", help="written into each prediction")
    parser.add_argument("--homes", required=True, help="JSON object: user_id -> home country")
    args = parser.parse_args()
    if args.mode == "run":
        if args.settings is None:
            parser.error("run: expected the settings JSON")
        serve(json.loads(args.settings), args.model, args.model_version, args.homes)
    else:
        check(args.model, args.model_version, args.homes)


if __name__ == "__main__":
    main()
