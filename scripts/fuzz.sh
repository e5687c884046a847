#!/usr/bin/env bash
# Runs each libFuzzer harness of build-fuzz/ for a set time (`make fuzz`; fuzz/README.md).
#   scripts/fuzz.sh SECONDS [HARNESS...]      default: every harness, one after the other
# Seeds come from fuzz/corpus/<harness>/, which is only read; what a run finds goes to
# build-fuzz/corpus/<harness>/ (kept between runs) and crashes to build-fuzz/artifacts/<harness>/.
# Exits non-zero when a harness found a crash or a broken invariant.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:?usage: scripts/fuzz.sh SECONDS [HARNESS...]}
shift
harnesses=("$@")
[[ ${#harnesses[@]} -gt 0 ]] || harnesses=(decoder config failure_event outcome_event)

failed=()
for h in "${harnesses[@]}"; do
  bin=build-fuzz/fuzz/${h}_fuzzer
  [[ -x $bin ]] || { echo "fuzz: $bin is not built (make fuzz builds it)" >&2; exit 2; }
  mkdir -p "build-fuzz/corpus/$h" "build-fuzz/artifacts/$h"
  echo "fuzz: $h for ${seconds}s" >&2
  # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: 2 GiB, libFuzzer's default,
  # also caps single allocations.
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -dict="fuzz/$h.dict" -artifact_prefix="build-fuzz/artifacts/$h/" \
      "build-fuzz/corpus/$h" "fuzz/corpus/$h" 2> "build-fuzz/$h.log"; then
    failed+=("$h")
    grep -E "ERROR|check failed|SUMMARY|Test unit written" "build-fuzz/$h.log" >&2 || true
  fi
  grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" \
    "build-fuzz/$h.log" >&2 || true
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]} (logs in build-fuzz/<harness>.log)" >&2
  exit 1
fi
echo "fuzz: ${harnesses[*]}: no crash in ${seconds}s each" >&2
