#!/usr/bin/env bash
# Installs what `make fuzz` needs beyond the build: clang and its runtime libraries (libFuzzer,
# the sanitizers), Debian 12's clang 14. Only `make fuzz` uses them; `make test` replays the
# corpora with the normal toolchain. The same rules as deps.sh, which does the work: as root it
# runs apt-get; otherwise it prints the one command to run and fails.
set -euo pipefail
exec "$(dirname "$0")/deps.sh" --with clang libclang-rt-14-dev
