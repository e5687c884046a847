#!/usr/bin/env python3
"""Replays labelled NAB series through `vigil replay` with default adaptive
bounds and scores the firing events with a NAB scorer.

Each series becomes one dataset with window = step = its sampling interval
(the most common gap between rows). Count-like series (names containing
volume, taxi, count or tweets) use `volume: {count_field: value, adaptive: {}}`,
the others `latency: {field: value, unit: s, adaptive: {}}`. No per-file
settings. A firing event is a detection at its timestamp (the end of the step
whose window holds the row: the moment replay could know).

usage: run_nab.py --nab-dir DIR --scorer nab_score.py [--vigil build/vigil] [--work DIR]
"""

import argparse
import collections
import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile

COUNT_WORDS = ("volume", "taxi", "count", "tweets")


def parse_ts(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)


def rfc3339(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def sampling_interval(rows):
    gaps = collections.Counter(
        int((b[0] - a[0]).total_seconds()) for a, b in zip(rows, rows[1:]) if b[0] > a[0])
    return gaps.most_common(1)[0][0]


def config_for(key, interval):
    check = ("volume: {count_field: value, adaptive: {}}"
             if any(w in key.lower() for w in COUNT_WORDS)
             else "latency: {field: value, unit: s, adaptive: {}}")
    return (f"datasets:\n  - name: nab\n    topic: nab\n    event_time: ts\n"
            f"    window: {interval}s\n    step: {interval}s\n    checks:\n      {check}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nab-dir", required=True)
    ap.add_argument("--scorer", required=True)
    ap.add_argument("--vigil", default="build/vigil")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="vigil-nab-")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(args.nab_dir, "windows.json")) as f:
        windows = json.load(f)

    detections = {}
    for key in sorted(windows):
        with open(os.path.join(args.nab_dir, key)) as f:
            rows = [(parse_ts(r["timestamp"]), r["value"]) for r in csv.DictReader(f)]
        interval = sampling_interval(rows)
        base = os.path.join(work, key.replace("/", "__"))
        with open(base + ".ndjson", "w") as out:
            for ts, value in rows:
                out.write(json.dumps({"ts": rfc3339(ts), "value": float(value)}) + "\n")
        with open(base + ".yaml", "w") as out:
            out.write(config_for(key, interval))
        replay = subprocess.run(
            [args.vigil, "replay", "--config", base + ".yaml", "--input", base + ".ndjson"],
            capture_output=True, text=True, check=True)
        fired = [json.loads(line)["timestamp"] for line in replay.stdout.splitlines()
                 if json.loads(line)["status"] == "firing"]
        detections[key] = fired
        kind = "volume" if "volume" in config_for(key, interval) else "latency"
        print(f"{key}: {len(rows)} rows, step {interval}s, {kind}, {len(fired)} firing events",
              file=sys.stderr)

    det_path = os.path.join(work, "detections.json")
    with open(det_path, "w") as f:
        json.dump(detections, f, indent=1)
    score = subprocess.run(
        [sys.executable, args.scorer, "--windows", os.path.join(args.nab_dir, "windows.json"),
         "--detections", det_path, "--profile", "all", "--align", "floor"],
        capture_output=True, text=True)
    sys.stdout.write(score.stdout)
    sys.stderr.write(score.stderr)
    return score.returncode


if __name__ == "__main__":
    sys.exit(main())
