#!/usr/bin/env bash
# Sets up the machine, builds Cohort in release mode and runs the main job on the demo data in data/:
# load the demo dataset, then evaluate the premium-access segment and the lifecycle segments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product cohort >&2
bin=.build/release/cohort
echo "== load the demo dataset ==" >&2
"$bin" load --schema data/schema.cohort --users data/users.csv --events data/events.csv
echo "== premium access and lifecycle segments at 2026-07-01 (embedded engine) ==" >&2
"$bin" run --now 2026-07-01 <<'CMDS'
SEGMENT.LIST
SEGMENT.COUNT premium_eligible
SEGMENT.MEMBERS premium_eligible COUNT 10
SEGMENT.OVERLAP premium_eligible dormant_riders promoters
AGG.STATS ride_spend_90d IN premium_eligible
AGG.GET u0000042 rides_90d ride_spend_90d "last(ride)"
CMDS
