# Sourced by the live benchmarks (live.sh, feed.sh): builds the release binary, generates
# the data with `cohort gen --seed 42` (cached in /tmp/cohort-bench-USERS), loads it into a
# fresh data directory and starts `cohort serve --now 2026-07-01` (appendfsync everysec,
# no periodic snapshots) on $port, waiting until it answers PING. Sets $bin, $work, $pid;
# the server is stopped by pid and the directory removed on exit.
#   usage: users=N port=P source Benchmarks/bench_server.sh
bash scripts/setup.sh
swift build -c release --product cohort >&2
bin=.build/release/cohort
data="/tmp/cohort-bench-$users"
[ -f "$data/events.csv" ] || "$bin" gen --users "$users" --seed 42 --out "$data" >&2
work=$(mktemp -d /tmp/cohort-bench-run-XXXXXX)
"$bin" load --data-dir "$work/data" --schema "$data/schema.cohort" --users "$data/users.csv" --events "$data/events.csv" >&2
"$bin" serve --data-dir "$work/data" --port "$port" --now 2026-07-01 --appendfsync everysec --snapshot-interval 0 2>"$work/serve.log" &
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
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $users users"
