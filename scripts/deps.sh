#!/usr/bin/env bash
# Installs the Debian 12 packages vigil needs to build, test and run its demo.
# As root it runs apt-get; otherwise it prints the one command to run and fails.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  librdkafka-dev libtbb-dev libtbbmalloc2 libboost-dev prometheus-cpp-dev libcivetweb-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsimdjson-dev libyaml-cpp-dev
  libcurl4-openssl-dev nlohmann-json3-dev
  prometheus prometheus-alertmanager
)
if [[ "${1:-}" == "--with" ]]; then shift; packages+=("$@"); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "vigil: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "vigil: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
