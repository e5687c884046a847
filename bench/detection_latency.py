#!/usr/bin/env python3
"""`make bench-latency`: how long `vigil detect` takes to report a fault, on live input.

1. starts `vigil broker` and `vigil detect` (bench/detection_latency.yaml: window
   30 s, step 5 s, latency p99_max 1 s, freshness max_age 10 s);
2. runs `vigil gen` paced in real time (event time = wall time) for --duration,
   with two faults: a 10x latency spike on etl_orders_01 and a stall (no
   records) of etl_orders_02;
3. reads back the input topic and the failures topic;
4. computes, from the records themselves, the exact moment each condition
   began: the first instant the exact p99 (same rank convention as vigil) of
   etl_orders_01's records in the trailing 30 s exceeded 1 s, and the instant
   etl_orders_02's newest record became older than max_age;
5. prints each failure event's arrival (its Kafka timestamp, set when vigil
   produced it) minus that moment, against the targets: freshness <= 1 s, latency
   spike <= one step + 0.5 s.

Needs confluent_kafka (Debian's python3-confluent-kafka; scripts/bench-deps.sh).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402  (Processes, BenchError, machine)

ROOT = e2e.ROOT
VIGIL = e2e.VIGIL
CONFIG = os.path.join(ROOT, "bench", "detection_latency.yaml")
TOPIC = "orders.events"
FAILURES = "vigil.failures"
WINDOW_MS = 30_000
STEP_MS = 5_000
P99_MAX_MS = 1_000
MAX_AGE_MS = 10_000
SPIKED = "etl_orders_01"
STALLED = "etl_orders_02"


def reexec_with_confluent_kafka():
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        python = e2e.python_with_confluent_kafka()
        if os.path.realpath(python) == os.path.realpath(sys.executable):
            raise
        os.execv(python, [python] + sys.argv)


def start_broker(procs, workdir, partitions):
    argv = [VIGIL, "broker", "--topic", f"{TOPIC}:{partitions}", "--topic", f"{FAILURES}:1"]
    err = open(os.path.join(workdir, "broker.log"), "w")
    p = procs.start(argv, stdout=subprocess.PIPE, stderr=err, text=True)
    err.close()
    m = re.match(r"bootstrap\.servers=(\S+)", p.stdout.readline())
    if not m:
        raise e2e.BenchError(f"vigil broker did not print its address (see {workdir}/broker.log)")
    return m.group(1)


def read_topic(bootstrap, topic, timeout_s=20):
    """Every message of `topic` as (kafka timestamp ms, value bytes), read to the end."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex[:8]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    meta = c.list_topics(topic, timeout=10).topics[topic]
    ends = {}
    for p in meta.partitions:
        _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        ends[p] = high
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    out, done = [], {p: ends[p] == 0 for p in ends}
    deadline = time.monotonic() + timeout_s
    while not all(done.values()):
        if time.monotonic() > deadline:
            raise e2e.BenchError(f"could not read {topic} to its end")
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        out.append((m.timestamp()[1], m.value()))
        if m.offset() + 1 >= ends[m.partition()]:
            done[m.partition()] = True
    c.close()
    return out


def lower_rank_quantile(sorted_values, q):
    return sorted_values[int(q * (len(sorted_values) - 1))]


def first_p99_breach(records):
    """The first instant t (ms) at which the exact p99 of the records with event
    time in [t - window, t) exceeds the bound, counting only instants at which the
    series has a full window of history (as vigil judges). The set of records
    in the window changes only when a record enters (t = ts + 1) or leaves
    (t = ts + window + 1), so those instants are checked in order."""
    import bisect
    records.sort()
    times = [t for t, _ in records]
    first = times[0]
    candidates = sorted({t + 1 for t in times} | {t + WINDOW_MS + 1 for t in times})
    for t in candidates:
        if t - first < WINDOW_MS:
            continue
        lo = bisect.bisect_left(times, t - WINDOW_MS)
        hi = bisect.bisect_left(times, t)
        if hi <= lo:
            continue
        window = sorted(v for _, v in records[lo:hi])
        if lower_rank_quantile(window, 0.99) > P99_MAX_MS:
            return t
    return None


def main():
    reexec_with_confluent_kafka()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=250,
                    help="records/s (default 250: the mock broker keeps ~5 MiB per partition)")
    ap.add_argument("--duration", type=int, default=90, help="seconds of live input (default 90)")
    ap.add_argument("--partitions", type=int, default=1,
                    help="input partitions (default 1: the faulted pipelines share it with the "
                         "others, as pipelines share partitions in production; with one pipeline "
                         "alone on a partition, its stall holds evaluation back by idle_timeout)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    spike_at, spike_len = 45, 20
    stall_at, stall_len = 50, 30
    if args.duration < stall_at + stall_len + 5:
        raise e2e.BenchError(f"--duration must be at least {stall_at + stall_len + 5}")

    procs = e2e.Processes()
    workdir = tempfile.mkdtemp(prefix="vigil-latency-")

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    # The children run in their own sessions: stop them on SIGTERM and Ctrl-C too.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        bootstrap = start_broker(procs, workdir, args.partitions)
        with open(CONFIG) as f:
            config = e2e.with_settings(f.read(), bootstrap, f"latency-{uuid.uuid4().hex[:8]}")
        config_path = os.path.join(workdir, "detect.yaml")
        with open(config_path, "w") as f:
            f.write(config)
        log = open(os.path.join(workdir, "detect.log"), "w")
        detect = procs.start([VIGIL, "detect", "--config", config_path], stdout=log, stderr=log)
        log.close()
        time.sleep(4)  # the group join (the mock's rebalance delay), before the input starts
        gen_argv = [VIGIL, "gen", "--config", config_path, "--rate", str(args.rate),
                    "--duration", f"{args.duration}s", "--pipelines", "4", "--seed", "1",
                    "--fault", f"latency_spike:{SPIKED}@{spike_at}s+{spike_len}s",
                    "--fault", f"stall:{STALLED}@{stall_at}s+{stall_len}s"]
        print(f"live input for {args.duration} s ...", flush=True)
        rc, _, err = procs.run(gen_argv, timeout=args.duration + 60)
        delivered = re.search(r"delivered (\d+) record", err)
        if rc != 0 or not delivered:
            raise e2e.BenchError(f"vigil gen failed: {err.strip()[-400:]}")
        time.sleep(3)  # the last evaluations and deliveries
        procs.stop(detect, grace=30)

        spiked, stalled = [], []
        records = read_topic(bootstrap, TOPIC)
        if len(records) != int(delivered.group(1)):
            raise e2e.BenchError(f"the broker kept {len(records)} of {delivered.group(1)} records "
                                 f"(it keeps ~5 MiB per partition): lower --rate")
        for _, value in records:
            r = json.loads(value)
            ts = int(datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp() * 1000)
            if r["pipeline_id"] == SPIKED:
                spiked.append((ts, r["latency_ms"]))
            elif r["pipeline_id"] == STALLED:
                stalled.append(ts)
        events = [(ts, json.loads(v)) for ts, v in read_topic(bootstrap, FAILURES)]

        def first_event(series, failure_type):
            found = [(ts, e) for ts, e in events if e.get("pipeline_id") == series and
                     e.get("failure_type") == failure_type and e.get("status") == "firing"]
            return min(found, key=lambda x: x[0]) if found else None

        rows = []
        breach = first_p99_breach(spiked)
        fired = first_event(SPIKED, "latency_spike")
        if breach is None or fired is None:
            raise e2e.BenchError(f"latency spike: exact breach at {breach}, event {fired}")
        rows.append(("latency spike (p99 > 1 s), 10x", breach, fired, STEP_MS / 1000 + 0.5))
        stalled.sort()
        gen_start = min(t for t, _ in spiked + [(s, 0) for s in stalled])
        last = max(t for t in stalled if t < gen_start + stall_at * 1000 + 1000)
        stale_at = last + MAX_AGE_MS  # age > max_age from the next millisecond on
        fired_stale = first_event(STALLED, "stale_data")
        if fired_stale is None:
            raise e2e.BenchError("no stale_data event for the stalled pipeline")
        rows.append(("freshness (age > max_age 10 s)", stale_at, fired_stale, 1.0))

        print()
        print("| fault | exact onset (UTC) | event produced (UTC) | detection latency | target |")
        print("|---|---|---|---|---|")
        for name, onset, (arrived, _), target in rows:
            fmt = lambda ms: datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%H:%M:%S.%f")[:-3]
            print(f"| {name} | {fmt(onset)} | {fmt(arrived)} | {(arrived - onset) / 1000:.3f} s | "
                  f"<= {target:.1f} s |")
        print()
        print(f"records: {len(spiked)} of {SPIKED}, {len(stalled)} of {STALLED}; "
              f"{len(events)} failure events")
        print(f"date:     {when}")
        print(f"machine:  {e2e.machine()}")
        print(f"command:  make bench-latency  (python3 bench/detection_latency.py)")
        print(f"  gen:    {' '.join(gen_argv[1:])}  ({args.partitions} input partition(s))")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    except e2e.BenchError as e:
        print(f"bench: {e} (work directory {workdir})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
