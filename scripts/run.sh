#!/usr/bin/env bash
# scripts/run.sh — set up, build (Release) and run ringo's main example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B out/run -DCMAKE_BUILD_TYPE=Release -DRINGO_TESTS=OFF >/dev/null
cmake --build out/run -j"$(nproc)" --target tour >/dev/null
exec out/run/tour "$@"
