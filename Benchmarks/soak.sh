#!/usr/bin/env bash
# The soak (issue 11; not CI): `cohort serve` at USERS users for MINUTES under 2 writers,
# 2 readers and a client cycling through issue 11's abuses, a SNAPSHOT every minute and a
# SIGKILL + restart every KILL_EVERY seconds; then checks that every acknowledged write is
# present and every answer equals a fresh engine's loaded from the same data and writes.
# Prints RSS over time and read latencies (p50/p99 overall and per minute).
#   Benchmarks/soak.sh [MINUTES] [USERS] [KILL_EVERY]      (default 30, 1000000, 300)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
users="${2:-1000000}"
kill_every="${3:-300}"
bash scripts/setup.sh
swift build -c release --product cohort >&2
bin=.build/release/cohort
data="/tmp/cohort-bench-$users"
[ -f "$data/events.csv" ] || "$bin" gen --users "$users" --seed 42 --out "$data" >&2
work=$(mktemp -d /tmp/cohort-soak-XXXXXX)
trap 'pkill -f "serve --data-dir $work" 2>/dev/null || true; rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $users users, $minutes min"
python3 Benchmarks/soak.py "$bin" "$data" "$work" --minutes "$minutes" --kill-every "$kill_every" --snapshot-every 60
