#!/usr/bin/env bash
# Sets up the machine and runs the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/clients.sh >/dev/null
swift build --build-tests
swift test --skip-build
# Fuzz smoke: every libFuzzer target over its kept crashers, then 15 s of fuzzing each.
bash scripts/fuzz.sh 15
