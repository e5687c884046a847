#!/usr/bin/env python3
"""The Python baseline of `make bench`: vigil's checks, written the simplest honest way.

A confluent_kafka Consumer reads a topic from the beginning in a fresh consumer
group (the same librdkafka underneath as vigil and bench/bare_consumer), and
for every record does what bench/e2e.yaml asks of vigil, in pure Python:

- json.loads the value; the series is `pipeline_id`, the event time `ts`
  (RFC 3339), the latency `latency_ms`;
- per series, a sliding window of 5 minutes kept as 10 s sub-window buckets,
  each with its record count, the latency values themselves, null counts of
  `user_id` and `amount`, and the set of field names;
- an event-time watermark (the minimum over partitions of their newest event
  time, as vigil's); records more than one step behind it are dropped as late;
- at every step end the watermark passes, every series that has seen a full
  window is judged: exact p95/p99 of the window's latencies (sorted), the
  volume, both null rates, the schema (required fields missing from the latest
  step, fields outside the reference taken from the first full window), and
  freshness (wall clock minus the newest event time). Breaches are counted,
  not produced anywhere.

Bounds mirror bench/e2e.yaml. Correctness is not held to vigil's; the point is
comparable work per record and per step. Stops after --records records and
prints one line of key=value pairs (first_to_last_s: first record received to
the last one processed; total_s: from start, group join included).
"""

import argparse
import json
import sys
import time
from datetime import datetime

from confluent_kafka import Consumer, KafkaError

# bench/e2e.yaml
SERIES_KEY = "pipeline_id"
EVENT_TIME = "ts"
LATENCY_FIELD = "latency_ms"  # unit ms
WINDOW_S = 300
STEP_S = 10
STEPS_PER_WINDOW = WINDOW_S // STEP_S
LATENESS_S = STEP_S
P95_MAX_S = None
P99_MAX_S = 5.0
MAX_AGE_S = 600
VOLUME_MIN = 1
NULL_FIELDS = ("user_id", "amount")
NULL_MAX_RATE = 0.5
REQUIRED = ("user_id", "amount")


class Bucket:
    __slots__ = ("count", "latencies", "nulls", "fields")

    def __init__(self):
        self.count = 0
        self.latencies = []
        self.nulls = [0] * len(NULL_FIELDS)
        self.fields = set()


class Series:
    __slots__ = ("buckets", "first", "newest", "reference")

    def __init__(self, t):
        self.buckets = {}  # step index -> Bucket
        self.first = t
        self.newest = t
        self.reference = None  # field names of the first full window


def parse_time(value):
    if isinstance(value, (int, float)):
        return value / 1000.0 if abs(value) >= 1e11 else float(value)
    return datetime.fromisoformat(value).timestamp()


class Detector:
    def __init__(self):
        self.series = {}
        self.partition_newest = {}
        self.next_step = None  # index of the next step end to judge
        self.late = 0
        self.invalid = 0
        self.steps = 0
        self.judged = 0
        self.breaches = 0

    def feed(self, value, partition):
        try:
            rec = json.loads(value)
            key = rec[SERIES_KEY]
            t = parse_time(rec[EVENT_TIME])
        except (ValueError, KeyError, TypeError):
            self.invalid += 1
            return
        if self.next_step is not None and t < self.next_step * STEP_S - LATENESS_S:
            self.late += 1
            return
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = Series(t)
        if t > s.newest:
            s.newest = t
        index = int(t // STEP_S)
        b = s.buckets.get(index)
        if b is None:
            b = s.buckets[index] = Bucket()
        b.count += 1
        latency = rec.get(LATENCY_FIELD)
        if isinstance(latency, (int, float)):
            b.latencies.append(latency / 1000.0)
        for i, f in enumerate(NULL_FIELDS):
            if rec.get(f) is None:
                b.nulls[i] += 1
        b.fields.update(rec)
        if t > self.partition_newest.get(partition, float("-inf")):
            self.partition_newest[partition] = t

    def advance(self, partitions):
        """Judges every step end the watermark has passed."""
        if len(self.partition_newest) < partitions:
            return  # a partition not heard from yet may hold older records
        watermark = min(self.partition_newest.values())
        if self.next_step is None:
            self.next_step = int(min(s.first for s in self.series.values()) // STEP_S) + 1
        while self.next_step * STEP_S <= watermark:
            self.judge(self.next_step)
            self.next_step += 1

    def judge(self, end):
        """Judges the window [end - window, end) of every series (end in steps)."""
        self.steps += 1
        now = time.time()
        start = end - STEPS_PER_WINDOW
        for s in self.series.values():
            for old in [i for i in s.buckets if i < start]:
                del s.buckets[old]
            if end * STEP_S - s.first < WINDOW_S:
                continue  # judged once a full window has passed since its first record
            self.judged += 1
            window = [b for i, b in s.buckets.items() if start <= i < end]
            count = sum(b.count for b in window)
            latencies = sorted(v for b in window for v in b.latencies)
            if latencies:
                n = len(latencies)
                p95 = latencies[int(0.95 * (n - 1))]
                p99 = latencies[int(0.99 * (n - 1))]
                if (P95_MAX_S is not None and p95 > P95_MAX_S) or p99 > P99_MAX_S:
                    self.breaches += 1
            if count < VOLUME_MIN:
                self.breaches += 1
            if count:
                for i in range(len(NULL_FIELDS)):
                    if sum(b.nulls[i] for b in window) / count > NULL_MAX_RATE:
                        self.breaches += 1
            fields = set().union(*(b.fields for b in window))
            if s.reference is None:
                s.reference = fields
            latest = s.buckets.get(end - 1)
            if latest is not None and any(f not in latest.fields for f in REQUIRED):
                self.breaches += 1
            if fields - s.reference:
                self.breaches += 1
            if now - s.newest > MAX_AGE_S:
                self.breaches += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--group", default=f"python-baseline-{time.time_ns()}")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="librdkafka property, applied last")
    args = ap.parse_args()

    start = time.monotonic()
    conf = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "fetch.wait.max.ms": 100,
        "partition.assignment.strategy": "cooperative-sticky",
    }
    for kv in args.set:
        key, _, value = kv.partition("=")
        conf[key] = value
    consumer = Consumer(conf)
    consumer.subscribe([args.topic])
    detector = Detector()
    records = 0
    first = last = None
    deadline = start + args.timeout
    try:
        while records < args.records and time.monotonic() < deadline:
            batch = consumer.consume(num_messages=10000, timeout=0.1)
            if not batch:
                continue
            if first is None:
                first = time.monotonic()
            for m in batch:
                if m.error() is not None:
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        print(f"python_baseline: {m.error()}", file=sys.stderr)
                    continue
                detector.feed(m.value(), m.partition())
                records += 1
                if records == args.records:
                    break
            detector.advance(len(consumer.assignment()))
        last = time.monotonic()
    finally:
        consumer.close()
    complete = records == args.records
    print(f"records={records} first_to_last_s={(last - first) if first else 0:.6f} "
          f"total_s={last - start:.6f} join_s={(first - start) if first else 0:.6f} "
          f"series={len(detector.series)} steps={detector.steps} judged={detector.judged} "
          f"breaches={detector.breaches} late={detector.late} invalid={detector.invalid} "
          f"complete={int(complete)}", flush=True)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
