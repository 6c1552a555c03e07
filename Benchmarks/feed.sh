#!/usr/bin/env bash
# The change feed under load (issue 15).
#   Benchmarks/feed.sh [USERS] [SECONDS_PER_PHASE]      (default 1000000 users, 10 s)
# Starts a server on the generated data (Benchmarks/bench_server.sh) and runs
# Benchmarks/feed_load.py against it (load generators are separate processes): write
# throughput with and without the five lifecycle segments watched, the latency from a
# write's reply to its entry at an XREAD BLOCK reader, a time-driven wave of 10,000 users
# leaving new_users in one second, and recorded sizes checked against recomputation.
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-1000000}"
seconds="${2:-10}"
port=7394
source Benchmarks/bench_server.sh
echo "$seconds s per phase"
python3 Benchmarks/feed_load.py "$port" "$users" --seconds "$seconds" --now 2026-07-01 --json "$work/feed.json"
