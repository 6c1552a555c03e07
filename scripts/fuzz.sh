#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (swift build -Xswiftc -sanitize=fuzzer,address) and
# runs each for SECONDS (default 60): first over its kept crashers (Fuzz/crashers/TARGET,
# which must all pass now), then fuzzing from its seed corpus (Fuzz/corpus/TARGET, read
# only) into a work corpus under .build/fuzz-corpus. A new crash, hang (an input over 10 s)
# or memory blow-up (RSS over 2 GB, how leaks show: LeakSanitizer reports false leaks on
# Swift's bit-packed enum pointers, llvm/llvm-project#56751, so it is off) fails the run,
# and the input is copied to Fuzz/crashers/TARGET to commit with its fix.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]    targets: FuzzRESP FuzzExpression FuzzRoundTrip
#                                             FuzzCSV FuzzSnapshot FuzzJournal (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzRESP FuzzExpression FuzzRoundTrip FuzzCSV FuzzSnapshot FuzzJournal)
bash scripts/setup.sh
build=.build/fuzz
# Off in ASan too, or it reports the same false leaks at exit.
export ASAN_OPTIONS=detect_leaks=0
for t in "${targets[@]}"; do
  # ld prints a warning per ASan symbol it cannot export; only errors matter.
  COHORT_FUZZ=1 swift build --build-path "$build" --product "$t" -Xswiftc -sanitize=fuzzer,address 2>&1 \
    | grep -v "Cannot export local symbol" || true
  [ -x "$build/debug/$t" ] || { echo "fuzz: $t did not build" >&2; exit 1; }
done
failed=()
for t in "${targets[@]}"; do
  exe="$build/debug/$t"
  options=(-detect_leaks=0 -rss_limit_mb=2048 -timeout=10 -max_len=4096)
  if compgen -G "Fuzz/crashers/$t/*" >/dev/null; then
    if ! "$exe" "${options[@]}" Fuzz/crashers/"$t"/* >"$build/$t-crashers.log" 2>&1; then
      echo "fuzz: $t fails on a kept crasher (Fuzz/crashers/$t); see $build/$t-crashers.log" >&2
      failed+=("$t")
      continue
    fi
  fi
  work=".build/fuzz-corpus/$t"
  artifacts=".build/fuzz-artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  log="$build/$t.log"
  if "$exe" "${options[@]}" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "Fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    echo "fuzz: $t ok: $runs inputs in ${seconds}s, coverage $cov edges, corpus $(ls "$work" | wc -l) inputs"
  else
    mkdir -p "Fuzz/crashers/$t"
    for f in "$artifacts"*; do [ -f "$f" ] && cp "$f" "Fuzz/crashers/$t/"; done
    echo "fuzz: $t FAILED; input kept in Fuzz/crashers/$t; log: $log" >&2
    grep -E "Fatal error|ERROR|SUMMARY|deadly|timeout|rss limit" "$log" | head -5 >&2 || true
    failed+=("$t")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: failed: ${failed[*]}" >&2; exit 1; }
