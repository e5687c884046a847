#!/usr/bin/env bash
# Installs what `make bench` needs beyond the build: python3-confluent-kafka, the
# Kafka client of the Python baseline (bench/python_baseline.py). The same rules
# as deps.sh, which does the work: as root it runs apt-get; otherwise it prints
# the one command to run and fails.
set -euo pipefail
exec "$(dirname "$0")/deps.sh" --with python3-confluent-kafka
