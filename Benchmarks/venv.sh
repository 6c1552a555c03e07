#!/usr/bin/env bash
# Creates Benchmarks/.venv with DuckDB from PyPI (once) and prints its python path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/.venv/bin/python" ] || ! "$here/.venv/bin/python" -c "import duckdb" 2>/dev/null; then
  python3 -m venv "$here/.venv" >&2
  "$here/.venv/bin/pip" install -q duckdb >&2
fi
echo "$here/.venv/bin/python"
