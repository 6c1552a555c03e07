#!/usr/bin/env bash
# cohort serve next to a real redis-server under redis-benchmark (Debian's redis-tools), same
# parameters, same run, alternating (A B A B A B), medians of requests per second.
#   Benchmarks/server.sh [REQUESTS]      (default 200000 per run)
# Cohort serves the demo data (data/, 3,000 users) from a temporary data directory with
# appendfsync everysec; redis-server runs with appendonly yes / appendfsync everysec. Both on
# loopback ports; both are stopped by pid at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200000}"
COHORT_EXTRA_PACKAGES="redis-tools redis-server" bash scripts/setup.sh
swift build -c release --product cohort >&2
bin=.build/release/cohort
cport=7391; rport=7392
work=$(mktemp -d /tmp/cohort-server-bench-XXXXXX)
"$bin" serve --port $cport --now 2026-07-01 --appendfsync everysec --snapshot-interval 0 2>"$work/cohort.log" &
cpid=$!
redis-server --port $rport --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec --dir "$work" --daemonize no >"$work/redis.log" 2>&1 &
rpid=$!
trap 'kill $cpid $rpid 2>/dev/null || true; wait $cpid $rpid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do redis-cli -p $cport PING >/dev/null 2>&1 && redis-cli -p $rport PING >/dev/null 2>&1 && break; sleep 0.2; done
redis-cli -p $cport SEGMENT.REFRESH premium_eligible >/dev/null
member=$(redis-cli -p $cport SEGMENT.MEMBERS premium_eligible COUNT 1 | tail -1)
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); redis $(redis-server --version | awk '{print $3}')"
rps() { sed -n 's/.* \([0-9][0-9.e+]*\) requests per second.*/\1/p' | tail -1; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
run() { redis-benchmark -p "$1" -c 50 -n "$2" -q "${@:3}" 2>/dev/null | tr '\r' '\n' | rps; }
declare -A results
for round in 1 2 3; do
  results[ping_c]+=" $(run $cport "$n" PING)";            results[ping_r]+=" $(run $rport "$n" PING)"
  results[pingp_c]+=" $(run $cport $((n * 5)) -P 16 PING)"; results[pingp_r]+=" $(run $rport $((n * 5)) -P 16 PING)"
  results[check_c]+=" $(run $cport "$n" SEGMENT.CHECK premium_eligible "$member")"
  results[check_r]+=" $(run $rport "$n" SISMEMBER premium_eligible "$member")"
  results[add_c]+=" $(run $cport $((n * 5)) -P 64 -r 100000 EVENT.ADD u__rand_int__ app_open '*')"
  results[add_r]+=" $(run $rport $((n * 5)) -P 64 -r 100000 RPUSH ev:__rand_int__ app_open)"
done
printf '%-46s %14s %14s %7s\n' "requests/s, median of 3 (50 clients)" "cohort" "redis-server" "ratio"
row() {
  local c r; c=$(median ${results[$2]}); r=$(median ${results[$3]})
  printf '%-46s %14.0f %14.0f %7.2f\n' "$1" "$c" "$r" "$(python3 -c "print($c / $r)")"
}
row "PING" ping_c ping_r
row "PING -P 16" pingp_c pingp_r
row "SEGMENT.CHECK vs SISMEMBER" check_c check_r
row "EVENT.ADD -P 64 vs RPUSH (everysec)" add_c add_r
echo "runs: $(for k in "${!results[@]}"; do echo -n "$k:[${results[$k]} ] "; done)"
