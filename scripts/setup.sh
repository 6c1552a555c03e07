#!/usr/bin/env bash
# Installs the system packages Cohort builds against (Debian/Ubuntu, run as root or with sudo).
# Idempotent: does nothing when everything is already there.
set -euo pipefail
packages=(liblz4-dev libroaring-dev pkg-config)
# The TLS test makes its certificates with openssl.
packages+=(openssl)
# The client-compatibility tests: redis-cli, and Python for redis-py (scripts/clients.sh);
# the report page test renders in Debian's headless Chromium.
packages+=(redis-tools python3 python3-venv chromium)
# Benchmark scripts add the tools they compare against (lz4, redis-tools).
# shellcheck disable=SC2206
packages+=(${COHORT_EXTRA_PACKAGES:-})
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: the Swift toolchain (6.1 or later) must be on PATH" >&2; exit 1; }
