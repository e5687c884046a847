#!/usr/bin/env python3
"""A/B of vigil builds end to end: each against the bare consumer, on one topic.

Fills one topic of the embedded broker the way bench/e2e.py does, then runs,
for each of --rounds rounds, the bare consumer and every given vigil binary
(`name=path`, in order), each vigil run in a fresh consumer group with a
state_topic of its own (a state topic holding checkpoints of an earlier run
changes what a run does). Prints each round, then the medians: seconds from
the first record to the last, CPU seconds, and records/s over the bare
consumer's median.

    python3 bench/e2e_ab.py --rounds 4 before=/tmp/vigil-before after=build/vigil
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402  (the helpers of bench/e2e.py)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="+", metavar="NAME=PATH", help="vigil binaries to compare")
    ap.add_argument("--rounds", type=int, default=4, help="rounds (default 4)")
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--records", type=int, default=400_000)
    ap.add_argument("--pipelines", type=int, default=1000)
    args = ap.parse_args()
    variants = []
    for v in args.variants:
        name, eq, path = v.partition("=")
        if not eq or not os.access(path, os.X_OK):
            raise e2e.BenchError(f"{v}: expected NAME=PATH to an executable")
        variants.append((name, path))

    with open(e2e.CONFIG) as f:
        config_text = f.read()
    props = e2e.kafka_properties(config_text)
    props.pop("bootstrap.servers", None)
    procs = e2e.Processes()
    workdir = tempfile.mkdtemp(prefix="vigil-ab-")
    try:
        bootstrap, _, _ = e2e.start_broker(procs, workdir, args.partitions)
        delivered, _, _ = e2e.fill(procs, workdir, config_text, bootstrap, args.records,
                                   args.pipelines, 600)
        e2e.check_retained(procs, bootstrap, delivered)
        runs = {"bare": []}
        runs.update({name: [] for name, _ in variants})
        for r in range(args.rounds):
            b = e2e.run_bare(procs, bootstrap, delivered, props, 120)
            runs["bare"].append((b["seconds"], b["cpu"], b["timed"] / b["seconds"]))
            for name, path in variants:
                e2e.VIGIL = path
                text = config_text.replace("detect:\n", f"detect:\n  state_topic: ab.state.{r}.{name}\n", 1)
                v = e2e.run_vigil(procs, workdir, text, bootstrap, delivered, 120, 0.01)
                runs[name].append((v["seconds"], v["cpu"], v["timed"] / v["seconds"]))
            print(f"round {r}: " + ", ".join(f"{n} {x[-1][0]:.3f} s" for n, x in runs.items()),
                  flush=True)
        bare = statistics.median(x[2] for x in runs["bare"])
        print(f"\nmedians over {args.rounds} rounds, {delivered} records:")
        for name, x in runs.items():
            print(f"{name:12s} {statistics.median(s for s, _, _ in x):.3f} s  "
                  f"CPU {statistics.median(c for _, c, _ in x):.3f} s  "
                  f"vs bare {statistics.median(rate for _, _, rate in x) / bare:.2f}")
        return 0
    except e2e.BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
