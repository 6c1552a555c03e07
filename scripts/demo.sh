#!/usr/bin/env bash
# Sets up the machine, builds Cohort in release mode and runs the main job on the demo data in data/:
# the batch recompute of premium-access eligibility (DESIGN §6), in a fresh data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product cohort >&2
bin=.build/release/cohort
dir="${COHORT_DEMO_DIR:-.cohort-demo}"
rm -rf "$dir"
echo "== load the demo dataset into $dir ==" >&2
"$bin" load --data-dir "$dir" --schema data/schema.cohort --users data/users.csv --events data/events.csv
echo "== recompute premium_eligible at 2026-07-01 (members in $dir/premium_eligible.members) ==" >&2
"$bin" recompute --data-dir "$dir" --segment premium_eligible --now 2026-07-01
echo "== recompute again two weeks later: who entered, who exited ==" >&2
"$bin" recompute --data-dir "$dir" --segment premium_eligible --now 2026-07-15
echo "== first members, and questions to the same data directory ==" >&2
head -5 "$dir/premium_eligible.members"
ask() { # label, then the command's reply (one element a line, as redis-cli prints)
  local label="$1"; shift
  echo "-- $label"
  "$bin" run --data-dir "$dir" --now 2026-07-01 "$@" | sed 's/^/   /'
}
ask "segments (name, definition)" SEGMENT.LIST
ask "overlap of premium_eligible, dormant_riders, promoters (row by row)" SEGMENT.OVERLAP premium_eligible dormant_riders promoters
ask "ride spend over 90 days in premium_eligible: users, with a value, sum, min, max, avg" AGG.STATS ride_spend_90d IN premium_eligible
ask "u0000042: rides in 90 days, spend in 90 days, last ride" AGG.GET u0000042 rides_90d ride_spend_90d "last(ride)"
