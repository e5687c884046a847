#!/usr/bin/env python3
"""`make bench`: end-to-end throughput of vigil detect beside a bare librdkafka
consumer and a Python baseline, on the same topic, on the same machine, in one run.

1. starts `vigil broker` (the embedded mock broker) with the input topic;
2. fills it with `vigil gen` (a backfill: --start makes it unpaced) and checks,
   from the partitions' low and high offsets, that the broker kept every record
   (it keeps only ~5 MiB per partition);
3. reads the whole topic from the beginning, each in a fresh consumer group,
   one after the other: build/bench/bare_consumer and `vigil detect` with
   bench/e2e.yaml (timed through its /metrics) in turn, --rounds times (each
   vigil run with a state_topic of its own), then bench/python_baseline.py once;
4. prints one table (bare and vigil: the median run of each), the two ratios
   the project targets (vigil / bare >= 0.7 with every round's, vigil / python
   >= 30), the machine, the date and the command;
5. stops every process it started, also on failure and Ctrl-C.

Python standard library only. All consumers get the librdkafka properties of
bench/e2e.yaml's `kafka:` section (bootstrap.servers aside), so they fetch alike.
"""

import argparse
import http.client
import os
import platform
import re
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIGIL = os.path.join(ROOT, "build", "vigil")
BARE = os.path.join(ROOT, "build", "bench", "bare_consumer")
BASELINE = os.path.join(ROOT, "bench", "python_baseline.py")
CONFIG = os.path.join(ROOT, "bench", "e2e.yaml")
TOPIC = "bench.events"
DATASET = "events"
START = "2025-01-15T14:00:00Z"


class BenchError(Exception):
    pass


class Processes:
    """Every child this script starts, each in its own process group, so that
    stopping one stops what it started and Ctrl-C reaches only this script."""

    def __init__(self):
        self.children = []

    def start(self, argv, **kwargs):
        p = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.children.append(p)
        return p

    def run(self, argv, timeout, **kwargs):
        """Runs to completion; returns (exit code, stdout, stderr) as text."""
        p = self.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(p)
            raise BenchError(f"{os.path.basename(argv[0])} did not finish within {timeout:.0f} s")
        return p.returncode, out, err

    def stop(self, p, grace=5.0, sig=signal.SIGTERM):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        # Close our ends of its pipes.
        for stream in (p.stdin, p.stdout, p.stderr):
            if stream is not None:
                stream.close()

    def stop_all(self):
        for p in reversed(self.children):
            self.stop(p)


def kafka_properties(config_text):
    """The `key: value` lines of the top-level `kafka:` section (flat, as in e2e.yaml)."""
    props, inside = {}, False
    for line in config_text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith((" ", "\t")):
            inside = line.split("#")[0].strip() == "kafka:"
            continue
        if inside:
            key, _, value = line.split("#")[0].strip().partition(":")
            props[key.strip()] = value.strip().strip("'\"")
    return props


def with_settings(config_text, bootstrap, group_id):
    text, n = re.subn(r"(?m)^(\s+bootstrap\.servers:).*$", rf"\g<1> {bootstrap}", config_text)
    if n != 1:
        raise BenchError(f"the configuration: expected one kafka bootstrap.servers line")
    text, n = re.subn(r"(?m)^(\s+group_id:).*$", rf"\g<1> {group_id}", text)
    if n != 1:
        raise BenchError(f"the configuration: expected one detect group_id line")
    return text


def process_cpu(pid):
    """CPU seconds (user + system) a running process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid):
    """The peak resident memory (VmHWM) of a running process, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def children_cpu():
    """CPU seconds of every child that has finished and been waited for."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def parse_pairs(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def last_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1] if lines else ""


def python_with_confluent_kafka():
    """The Debian package python3-confluent-kafka serves /usr/bin/python3; prefer it."""
    for exe in ("/usr/bin/python3", sys.executable):
        if exe and os.path.exists(exe) and subprocess.run(
                [exe, "-c", "import confluent_kafka"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            return exe
    raise BenchError("no python3 with confluent_kafka: run scripts/bench-deps.sh (make bench does)")


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, " \
           f"Linux {platform.release()}"


def start_broker(procs, workdir, partitions):
    argv = [VIGIL, "broker", "--topic", f"{TOPIC}:{partitions}", "--topic", "vigil.failures:1"]
    err = open(os.path.join(workdir, "broker.log"), "w")
    p = procs.start(argv, stdout=subprocess.PIPE, stderr=err, text=True)
    err.close()
    line = p.stdout.readline()  # the broker prints its address first, or exits
    m = re.match(r"bootstrap\.servers=(\S+)", line)
    if not m:
        raise BenchError(f"vigil broker did not print its address (see {workdir}/broker.log)")
    return m.group(1), argv, p.pid


def fill(procs, workdir, config_text, bootstrap, records, pipelines, duration_s):
    config = os.path.join(workdir, "gen.yaml")
    with open(config, "w") as f:
        f.write(with_settings(config_text, bootstrap, "unused"))
    rate = records / duration_s
    argv = [VIGIL, "gen", "--config", config, "--rate", f"{rate:.3f}", "--duration",
            f"{duration_s}s", "--start", START, "--seed", "1", "--pipelines", str(pipelines),
            "--topic", TOPIC]
    t0 = time.monotonic()
    rc, _, err = procs.run(argv, timeout=120)
    seconds = time.monotonic() - t0
    m = re.search(r"delivered (\d+) record", err)
    if rc != 0 or not m:
        raise BenchError(f"vigil gen failed ({rc}): {err.strip()[-500:]}")
    return int(m.group(1)), seconds, argv


def check_retained(procs, bootstrap, delivered):
    rc, out, err = procs.run([BARE, "--bootstrap", bootstrap, "--topic", TOPIC, "--watermarks"],
                             timeout=30)
    if rc != 0:
        raise BenchError(f"bare_consumer --watermarks failed: {err.strip()}")
    parts = [parse_pairs(l) for l in out.splitlines() if l.startswith("partition=")]
    kept = sum(int(p["high"]) - int(p["low"]) for p in parts)
    cut = [p["partition"] for p in parts if int(p["low"]) > 0]
    if cut or kept != delivered:
        raise BenchError(
            f"the mock broker kept {kept} of {delivered} records (partitions cut short: "
            f"{', '.join(cut) or 'none'}); it keeps ~5 MiB per partition: lower --records "
            f"or raise --partitions")
    sizes = sorted(int(p["high"]) for p in parts)
    empty = sum(1 for s in sizes if s == 0)
    if empty:
        print(f"warning: {empty} partition(s) empty; vigil waits idle_timeout for them",
              file=sys.stderr)
    return sizes


def run_reader(procs, name, argv, records, props, timeout):
    """Runs a consumer that reads `records` and prints key=value pairs; returns
    its timing row and the pairs."""
    argv = list(argv)
    for k, v in props.items():
        argv += ["--set", f"{k}={v}"]
    cpu0 = children_cpu()
    rc, out, err = procs.run(argv, timeout=timeout + 30)
    cpu = children_cpu() - cpu0
    r = parse_pairs(last_line(out))
    if rc != 0 or r.get("complete") != "1":
        raise BenchError(f"{name} read {r.get('records', '?')} of {records}: {err.strip()[-500:]}")
    row = {"records": int(r["records"]), "timed": int(r["records"]),
           "seconds": float(r["first_to_last_s"]), "total": float(r["total_s"]), "cpu": cpu,
           "note": ""}
    return row, r


def run_bare(procs, bootstrap, records, props, timeout):
    argv = [BARE, "--bootstrap", bootstrap, "--topic", TOPIC, "--records", str(records),
            "--group", f"bench-bare-{uuid.uuid4().hex[:8]}", "--timeout", str(timeout)]
    row, _ = run_reader(procs, "bare_consumer", argv, records, props, timeout)
    return row


class Metrics:
    """GET /metrics over one kept-alive connection."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def consumed(self):
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                self.conn.request("GET", "/metrics")
                body = self.conn.getresponse().read().decode()
                break
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        m = re.search(r'^vigil_records_consumed_total\{dataset="%s"\} (\S+)$' % DATASET, body,
                      re.M)
        invalid = sum(float(v) for v in re.findall(
            r'^vigil_records_invalid_total\{dataset="%s",[^}]*\} (\S+)$' % DATASET, body, re.M))
        return (int(float(m.group(1))) if m else 0), int(invalid)


def run_vigil(procs, workdir, config_text, bootstrap, records, timeout, poll_s):
    config = os.path.join(workdir, "detect.yaml")
    group = f"bench-vigil-{uuid.uuid4().hex[:8]}"
    with open(config, "w") as f:
        f.write(with_settings(config_text, bootstrap, group))
    log_path = os.path.join(workdir, "detect.log")
    log = open(log_path, "w")
    t0 = time.monotonic()
    # stderr to a file: vigil logs every failure event, a pipe nobody reads would block it.
    p = procs.start([VIGIL, "detect", "--config", config], stdout=log, stderr=log)
    log.close()
    deadline = t0 + timeout
    port = None
    while port is None:
        with open(log_path) as f:
            m = re.search(r"listening on [^\s:]+:(\d+)", f.read())
        if m:
            port = int(m.group(1))
        elif p.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"vigil detect did not start listening (see {log_path})")
        else:
            time.sleep(0.01)
    metrics = Metrics(port)
    first = first_count = None
    while True:
        count, invalid = metrics.consumed()
        now = time.monotonic()
        if count > 0 and first is None:
            first, first_count = now, count
        if count + invalid >= records:
            break
        if p.poll() is not None:
            raise BenchError(f"vigil detect exited ({p.returncode}) after {count} records "
                             f"(see {log_path})")
        if now > deadline:
            raise BenchError(f"vigil detect consumed {count} of {records} records in "
                             f"{timeout:.0f} s (see {log_path})")
        time.sleep(poll_s)
    if count == first_count:
        raise BenchError(f"vigil detect read all {count} records in one round: too few to "
                         f"time, raise --records")
    if invalid:
        print(f"warning: vigil counted {invalid} invalid records (see {log_path})",
              file=sys.stderr)
    cpu = process_cpu(p.pid)
    rss = peak_rss_mb(p.pid)
    procs.stop(p, grace=40)
    # The first observation comes after vigil's first round (up to 10,000 records
    # polled and processed): those records are not in the timed interval.
    return {"records": count, "timed": count - first_count, "seconds": now - first,
            "total": now - t0, "cpu": cpu, "rss": rss,
            "note": f"first seen at {first_count}, polled every "
                    f"{poll_s * 1000:.0f} ms"}


def run_python(procs, python, bootstrap, records, props, timeout):
    argv = [python, BASELINE, "--bootstrap", bootstrap, "--topic", TOPIC, "--records",
            str(records), "--group", f"bench-python-{uuid.uuid4().hex[:8]}",
            "--timeout", str(timeout)]
    row, r = run_reader(procs, "python_baseline", argv, records, props, timeout)
    row["note"] = f"{r['steps']} steps, {r['judged']} series judgements"
    return row


def parse_duration(text):
    m = re.fullmatch(r"(\d+)(s|m|h)", text)
    if not m:
        raise argparse.ArgumentTypeError("expected a duration like 600s or 10m")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--partitions", type=int, default=64,
                    help="partitions of the input topic (default 64)")
    ap.add_argument("--records", type=int, default=400_000,
                    help="records to generate, about (default 400000)")
    ap.add_argument("--pipelines", type=int, default=1000,
                    help="series (vigil gen --pipelines; default 1000)")
    ap.add_argument("--duration", type=parse_duration, default=600,
                    help="event time the records span (default 10m: 60 steps of 10 s)")
    ap.add_argument("--timeout", type=float, default=120,
                    help="seconds each consumer may take (default 120)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="runs of the bare consumer and vigil, in turn; the table shows the "
                         "median of each (default 3)")
    ap.add_argument("--poll", type=float, default=0.01,
                    help="seconds between reads of vigil's /metrics (default 0.01)")
    ap.add_argument("--config", default=CONFIG,
                    help="the vigil configuration (default bench/e2e.yaml); its kafka: section "
                         "goes to every client")
    ap.add_argument("--kafka", action="append", default=[], metavar="KEY=VALUE",
                    help="a librdkafka property for every client, added to e2e.yaml's kafka "
                         "section (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    args = ap.parse_args()

    if os.environ.get("MAKELEVEL"):
        command = "make bench" + (f" BENCH_ARGS={shlex.quote(' '.join(sys.argv[1:]))}"
                                  if sys.argv[1:] else "")
    else:
        command = " ".join(shlex.quote(a) for a in ["python3"] + sys.argv)
    for path in (VIGIL, BARE):
        if not os.access(path, os.X_OK):
            raise BenchError(f"{path} missing: run make build")
    with open(args.config) as f:
        config_text = f.read()
    for kv in args.kafka:
        key, eq, value = kv.partition("=")
        if not eq or not key:
            raise BenchError(f"--kafka {kv}: expected KEY=VALUE")
        config_text = re.sub(rf"(?m)^[ \t]+{re.escape(key)}:.*\n", "", config_text)
        config_text, n = re.subn(r"(?m)^kafka:\n", f"kafka:\n  {key}: '{value}'\n", config_text)
        if n != 1:
            raise BenchError(f"the configuration: expected one top-level kafka: line")
    props = kafka_properties(config_text)
    props.pop("bootstrap.servers", None)
    python = python_with_confluent_kafka()
    python_version = subprocess.run([python, "-c", "import sys, confluent_kafka as c; "
                                     "print(sys.version.split()[0], c.version()[0], "
                                     "c.libversion()[0])"],
                                    capture_output=True, text=True).stdout.split()

    procs = Processes()
    workdir = tempfile.mkdtemp(prefix="vigil-bench-")
    ok = False

    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)  # also when started with SIGINT ignored
    try:
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        bootstrap, broker_argv, broker_pid = start_broker(procs, workdir, args.partitions)
        delivered, gen_s, gen_argv = fill(procs, workdir, config_text, bootstrap, args.records,
                                          args.pipelines, args.duration)
        sizes = check_retained(procs, bootstrap, delivered)
        print(f"topic {TOPIC}: {delivered} records over {args.partitions} partitions "
              f"({sizes[0]}..{sizes[-1]} per partition), {args.pipelines} series, "
              f"{args.duration} s of event time; generated in {gen_s:.1f} s", flush=True)

        if args.rounds < 1:
            raise BenchError("--rounds: at least 1")
        runs = {}

        def timed(name, run, *run_args):
            print(f"{name} ...", flush=True)
            broker0 = process_cpu(broker_pid)
            r = run(*run_args)
            r["broker_cpu"] = process_cpu(broker_pid) - broker0
            runs.setdefault(name, []).append(r)

        # The bare consumer's own time moves most between runs: bare and vigil alternate, and
        # each is shown by its median run. Every vigil run has a state_topic of its own, since
        # checkpoints of an earlier run would change what a run does.
        for r in range(args.rounds):
            timed("bare librdkafka (C++)", run_bare, procs, bootstrap, delivered, props,
                  args.timeout)
            vigil_config = config_text.replace("detect:\n",
                                               f"detect:\n  state_topic: bench.state.{r}\n", 1)
            timed("vigil detect", run_vigil, procs, workdir, vigil_config, bootstrap, delivered,
                  args.timeout, args.poll)
        timed("python baseline", run_python, procs, python, bootstrap, delivered, props,
              args.timeout)

        def median_run(name):
            ordered = sorted(runs[name], key=lambda r: r["timed"] / r["seconds"])
            return ordered[(len(ordered) - 1) // 2]

        results = [(name, median_run(name)) for name in runs]
        rate = {name: r["timed"] / r["seconds"] for name, r in results}
        bare = rate["bare librdkafka (C++)"]
        per_round = [v["timed"] / v["seconds"] / (b["timed"] / b["seconds"])
                     for b, v in zip(runs["bare librdkafka (C++)"], runs["vigil detect"])]
        print()
        print("| consumer | records | timed | seconds (first to last) | records/s | vs bare "
              "| seconds from start | CPU s: consumer / broker |")
        print("|---|---|---|---|---|---|---|---|")
        for name, r in results:
            print(f"| {name} | {r['records']:,} | {r['timed']:,} | {r['seconds']:.3f} | "
                  f"{rate[name]:,.0f} | {rate[name] / bare:.2f} | {r['total']:.2f} | "
                  f"{r['cpu']:.2f} / {r['broker_cpu']:.2f} |")
        print()
        vigil = rate["vigil detect"]
        python_rate = rate["python baseline"]
        print(f"vigil / bare   = {vigil / bare:.2f}  (target >= 0.7; medians of {args.rounds} "
              f"rounds; round by round: {', '.join(f'{x:.2f}' for x in per_round)})")
        print(f"vigil / python = {vigil / python_rate:.1f}  (target >= 30)")
        print(f"vigil detect peak resident memory: {results[1][1]['rss']:.0f} MiB")
        print()
        print("timed: records between the first and the last observation; "
              "vigil's are read from /metrics (" + results[1][1]["note"] + "); "
              "python: " + results[2][1]["note"])
        print("CPU s: the consumer process from its start to its last record (vigil) or its "
              "exit; the broker over the same run")
        print(f"date:     {when}")
        print(f"machine:  {machine()}")
        print(f"python:   {python} {' '.join(python_version[:1])}, confluent_kafka "
              f"{' '.join(python_version[1:2])}, librdkafka {' '.join(python_version[2:3])}")
        print(f"topic:    {delivered} records, {args.partitions} partitions, "
              f"{args.pipelines} series, {args.duration} s of event time; "
              f"consumer properties {' '.join(f'{k}={v}' for k, v in props.items()) or 'none'}")
        print(f"config:   {os.path.relpath(args.config, ROOT)} (vigil detect.threads default: "
              f"one per core)")
        print(f"command:  {command}")
        print(f"  broker: {' '.join(shlex.quote(a) for a in broker_argv)}")
        shown = [os.path.relpath(args.config, ROOT) if a.endswith("/gen.yaml") else a
                 for a in gen_argv]
        print(f"  gen:    {' '.join(shlex.quote(a) for a in shown)}  "
              f"(bootstrap.servers filled in)")
        ok = True
        return 0
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        procs.stop_all()
        if ok and not args.keep:
            for name in os.listdir(workdir):
                os.remove(os.path.join(workdir, name))
            os.rmdir(workdir)
        else:
            print(f"bench: logs and configs in {workdir}", file=sys.stderr)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(1)
