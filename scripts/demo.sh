#!/usr/bin/env bash
# Sets up the machine, builds Cohort in release mode and runs the main job on the demo data in data/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product cohort >&2
bin=.build/release/cohort
echo "== load the demo dataset ==" >&2
"$bin" load --schema data/schema.cohort --users data/users.csv --events data/events.csv
echo "== a few commands against the embedded engine ==" >&2
"$bin" run --now 2026-07-01 <<'CMDS'
INFO
USER.GET u0000042
CMDS
