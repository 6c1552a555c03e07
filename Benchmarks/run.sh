#!/usr/bin/env bash
# Cohort side by side with DuckDB on the same generated files.
#   Benchmarks/run.sh [USERS]        (default 1000000)
# Builds in release mode, generates the data with `cohort gen` (cached under /tmp), times
# `cohort load` and DuckDB's in-memory CSV load alternately (A B A B A B) and prints medians,
# runs the segment questions of Benchmarks/queries.tsv in both (compare_queries.py: counts
# checked, medians, speedups), then runs the package-benchmark target
# (SKIP_PACKAGE_BENCHMARK=1 to leave it out).
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-1000000}"
dir="/tmp/cohort-bench-$users"
bash scripts/setup.sh
swift build -c release --product cohort >&2
bin=.build/release/cohort
[ -f "$dir/events.csv" ] || "$bin" gen --users "$users" --seed 42 --out "$dir" >&2
py="$(bash Benchmarks/venv.sh)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "data: $users users, $(($(wc -l < "$dir/events.csv") - 1)) events, $(du -m "$dir/events.csv" | cut -f1) MiB events.csv"
cohort_times=(); duck_times=()
for round in 1 2 3; do
  start=$(date +%s%N)
  out=$("$bin" load --schema "$dir/schema.cohort" --users "$dir/users.csv" --events "$dir/events.csv" 2>/dev/null)
  cohort_times+=("$(python3 -c "print(round(($(date +%s%N) - $start) / 1e9, 3))")")
  duck=$("$py" Benchmarks/peer_load.py "$dir")
  duck_times+=("$(echo "$duck" | awk '/total_seconds/{print $3}')")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo "cohort load (process, incl. definitions): median $(median "${cohort_times[@]}") s  [${cohort_times[*]}]"
echo "duckdb CSV load (in-memory tables):       median $(median "${duck_times[@]}") s  [${duck_times[*]}]"
echo "cohort: $out"
echo "duckdb: $(echo "$duck" | tail -1)"
echo "== segment questions (Benchmarks/queries.tsv) =="
"$py" Benchmarks/compare_queries.py "$bin" "$dir" --reps 7 --rounds 2
if [ "${SKIP_PACKAGE_BENCHMARK:-}" = "" ]; then
  COHORT_BENCHMARKS=1 COHORT_BENCH_USERS="$users" swift package -c release benchmark --target CohortBenchmarks --no-progress
fi
