#!/usr/bin/env bash
# Snapshot write and load next to the lz4 tool on the same uncompressed bytes.
#   Benchmarks/persistence.sh [USERS]     (default 1000000; 10000000 for the 10M figures)
# Generates the data with `cohort gen` (cached under /tmp), loads it into a fresh data
# directory, then alternates three times: `cohort snapshot-benchmark` (snapshot load, then
# write with fsync), `lz4 -1` on the exported uncompressed section bytes (+ fsync of its
# output) and `lz4 -d` to /dev/null; then times whole-process start-up (`cohort run PING`).
# Prints medians. REUSE=1 keeps a data directory loaded by an earlier run.
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-1000000}"
dir="/tmp/cohort-bench-$users"
data="/tmp/cohort-bench-$users-datadir"
raw="/tmp/cohort-bench-$users-sections.raw"
COHORT_EXTRA_PACKAGES="lz4" bash scripts/setup.sh
swift build -c release --product cohort >&2
bin=.build/release/cohort
[ -f "$dir/events.csv" ] || "$bin" gen --users "$users" --seed 42 --out "$dir" >&2
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
if [ "${REUSE:-}" = "" ] || [ ! -f "$data/snapshot.cohort" ]; then
  rm -rf "$data"
  "$bin" load --data-dir "$data" --schema "$dir/schema.cohort" --users "$dir/users.csv" --events "$dir/events.csv" 2>&1 | grep -v '^load ' >&2
fi
secs() { python3 -c "print(round(($2 - $1) / 1e9, 3))"; }
read_t=(); write_t=(); lz4c_t=(); lz4d_t=(); start_t=()
for round in 1 2 3; do
  line=$("$bin" snapshot-benchmark --data-dir "$data" --uncompressed-out "$raw")
  read_t+=("$(echo "$line" | awk '{print $2}')"); write_t+=("$(echo "$line" | awk '{print $4}')")
  sizes="$line"
  s=$(date +%s%N); lz4 -1 -q -f "$raw" "$raw.lz4"; sync "$raw.lz4"; lz4c_t+=("$(secs "$s" "$(date +%s%N)")")
  s=$(date +%s%N); lz4 -d -q -c "$raw.lz4" > /dev/null; lz4d_t+=("$(secs "$s" "$(date +%s%N)")")
  s=$(date +%s%N); "$bin" run --data-dir "$data" PING > /dev/null; start_t+=("$(secs "$s" "$(date +%s%N)")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo "data: $(echo "$sizes" | awk '{print $10, "users,", $12, "events; sections", $8, "bytes uncompressed, snapshot file", $6, "bytes"}')"
echo "lz4 -1 on the same bytes: $(stat -c %s "$raw.lz4") bytes"
printf '%-40s %10s   %s\n' "measure" "median s" "runs"
printf '%-40s %10s   %s\n' "cohort snapshot write (fsync)" "$(median "${write_t[@]}")" "${write_t[*]}"
printf '%-40s %10s   %s\n' "lz4 -1 same bytes (+ fsync)" "$(median "${lz4c_t[@]}")" "${lz4c_t[*]}"
printf '%-40s %10s   %s\n' "cohort snapshot load (in-process)" "$(median "${read_t[@]}")" "${read_t[*]}"
printf '%-40s %10s   %s\n' "lz4 -d same bytes (to /dev/null)" "$(median "${lz4d_t[@]}")" "${lz4d_t[*]}"
printf '%-40s %10s   %s\n' "cohort start-up (run PING, process)" "$(median "${start_t[@]}")" "${start_t[*]}"
rm -f "$raw" "$raw.lz4"
