# The two commands a user runs are `make demo` and `make test`; both install any
# missing Debian package first (as root), then configure and build.
PRESET ?= release
JOBS   ?= $(shell nproc)
# Tests run 4 at a time whatever the cores: the integration tests mostly wait
# on timers (tests/CMakeLists.txt).
TEST_JOBS ?= 4
BUILD  := build

.PHONY: deps build demo test test-sanitize test-tsan bench bench-latency fuzz format clean \
        build-sanitize build-tsan build-fuzz

deps:
	@scripts/deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

demo: build
	@$(BUILD)/vigil demo

test: PRESET = $(if $(CI),ci,release)
test: build
	@ctest --preset $(PRESET) -j $(TEST_JOBS)

# End-to-end throughput: vigil detect beside a bare librdkafka consumer and a
# Python baseline on the embedded broker (bench/e2e.py; options via BENCH_ARGS).
bench: build
	@scripts/bench-deps.sh
	@python3 bench/e2e.py $(BENCH_ARGS)

# Detection latency on live input: a latency spike and a stall injected by
# vigil gen, timed from the exact onset to the failure event (about 100 s).
bench-latency: build
	@scripts/bench-deps.sh
	@python3 bench/detection_latency.py $(BENCH_ARGS)

# The libFuzzer harnesses of fuzz/ (clang, ASan+UBSan, build-fuzz/), each run for FUZZ_SECONDS;
# FUZZERS picks some of them. `make test` replays their corpora without clang.
FUZZ_SECONDS ?= 60
FUZZERS ?= decoder config failure_event outcome_event
fuzz: build-fuzz
	@scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZERS)

build-fuzz: deps
	@scripts/fuzz-deps.sh
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS) --target $(addsuffix _fuzzer,$(FUZZERS))

# The whole suite under ASan+UBSan (-O1, build-debug/): unit, integration (spawning the sanitized
# vigil of that build) and deploy tests, and the fuzz corpora.
test-sanitize: build-sanitize
	@ctest --preset debug -j $(TEST_JOBS)

build-sanitize: deps
	@cmake --preset debug >/dev/null
	@cmake --build --preset debug -j $(JOBS)

# The tests that run threads, under ThreadSanitizer (-O1, build-tsan/); the selection is the tsan
# test preset's (CMakePresets.json), the suppressions tests/tsan.supp.
test-tsan: build-tsan
	@ctest --preset tsan -j $(TEST_JOBS)

build-tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan -j $(JOBS)

format:
	@find app common detectors stream http remediation tests bench fuzz -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf build build-debug build-tsan build-fuzz
