#!/usr/bin/env bash
# Sets everything up, builds a release binary and runs a local dev broker:
# JetStream on, data under ./data, monitoring on 8222. Extra arguments go to jetbroker.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build build-release --target jetbroker -j"$(nproc)"
mkdir -p data
exec ./build-release/jetbroker -js -sd "$root/data" -m 8222 "$@"
