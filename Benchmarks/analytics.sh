#!/usr/bin/env bash
# Funnels and time series, Cohort next to DuckDB (issue 16): Benchmarks/analytics.sh [USERS]
# (default 1000000).
# Builds the release binary, generates the data with `cohort gen --seed 42` (cached in
# /tmp/cohort-bench-USERS), makes the DuckDB venv (Benchmarks/venv.sh) and runs
# Benchmarks/analytics_compare.py: every answer checked equal, medians of interleaved rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-1000000}"
bash scripts/setup.sh
swift build -c release --product cohort >&2
bin=.build/release/cohort
py="$(bash Benchmarks/venv.sh)"
data="/tmp/cohort-bench-$users"
[ -f "$data/events.csv" ] || "$bin" gen --users "$users" --seed 42 --out "$data" >&2
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $users users"
"$py" Benchmarks/analytics_compare.py "$bin" "$data"
