#!/usr/bin/env bash
# Creates .build/clients, a Python environment with redis-py from PyPI, for the tests that
# drive Cohort through real client libraries (Tests/Clients); redis-cli comes from
# redis-tools (scripts/setup.sh). Idempotent; prints the environment's python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/clients
if ! "$venv/bin/python" -c "import redis, sys; sys.exit(int(redis.__version__.split('.')[0]) < 5)" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q "redis>=5" >&2
fi
echo "$PWD/$venv/bin/python"
