#!/usr/bin/env bash
# The live workload: reads measured while events stream in (issue 13).
#   Benchmarks/live.sh [USERS] [SECONDS_PER_PHASE]      (default 1000000 users, 12 s)
# Starts a server on the generated data (Benchmarks/bench_server.sh) and runs
# Benchmarks/live_load.py against it: load generators are separate processes from the
# server. Prints CHECK/AGG.GET p50/p99 and COUNT p50 per phase against the quiet phase of
# the same run, the longest request during a SNAPSHOT with writes streaming, and the
# exactness check (per-user counts before + written = after).
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-1000000}"
seconds="${2:-12}"
port=7393
source Benchmarks/bench_server.sh
echo "$seconds s per phase"
python3 Benchmarks/live_load.py "$port" "$users" --seconds "$seconds" --now 2026-07-01 --json "$work/live.json"
status=$?
python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall(b"INFO\r\n"); data = b""
while b"merge_threshold" not in data: data += s.recv(65536)
print("server: " + ", ".join(l for l in data.decode().split("\r\n") if l.split(":")[0] in ("events", "delta_events", "merges", "used_memory", "used_memory_rss")))
PY
exit $status
