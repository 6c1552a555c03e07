#!/usr/bin/env bash
# The live workload: reads measured while events stream in (issue 13).
#   Benchmarks/live.sh [USERS] [SECONDS_PER_PHASE]      (default 1000000 users, 12 s)
# Generates the data with `cohort gen --seed 42` (cached in /tmp/cohort-bench-USERS), loads it
# into a fresh data directory, starts `cohort serve --now 2026-07-01` (appendfsync everysec, no
# periodic snapshots) and runs Benchmarks/live_load.py against it: load generators are separate
# processes from the server. Prints CHECK/AGG.GET p50/p99 and COUNT p50 per phase against the
# quiet phase of the same run, the longest request during a SNAPSHOT with writes streaming,
# and the exactness check (per-user counts before + written = after). The server is stopped by
# pid at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-1000000}"
seconds="${2:-12}"
bash scripts/setup.sh
swift build -c release --product cohort >&2
bin=.build/release/cohort
data="/tmp/cohort-bench-$users"
[ -f "$data/events.csv" ] || "$bin" gen --users "$users" --seed 42 --out "$data" >&2
work=$(mktemp -d /tmp/cohort-live-XXXXXX)
"$bin" load --data-dir "$work/data" --schema "$data/schema.cohort" --users "$data/users.csv" --events "$data/events.csv" >&2
port=7393
"$bin" serve --data-dir "$work/data" --port $port --now 2026-07-01 --appendfsync everysec --snapshot-interval 0 2>"$work/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$port" <<'PY'
import socket, sys, time
for _ in range(600):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall(b"PING\r\n")
        if s.recv(16).startswith(b"+PONG"): break
    except OSError: time.sleep(0.2)
PY
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $users users, $seconds s per phase"
python3 Benchmarks/live_load.py "$port" "$users" --seconds "$seconds" --now 2026-07-01 --json "$work/live.json"
status=$?
python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall(b"INFO\r\n"); data = b""
while b"merge_threshold" not in data: data += s.recv(65536)
print("server: " + ", ".join(l for l in data.decode().split("\r\n") if l.split(":")[0] in ("events", "delta_events", "merges", "used_memory", "used_memory_rss")))
PY
exit $status
