#!/usr/bin/env bash
# Set up on a fresh machine and start the service: SQLite under ./data, API docs at
# http://127.0.0.1:8000/docs. Runs in dev mode: without EDGEPERF_ADMIN_KEY an admin key is
# generated once into ./data/admin_key (printed the first time). Extra arguments go to
# `edgeperf serve` (e.g. --port 8080). For production use Docker (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_setup.sh
setup_env serve
export EDGEPERF_DEV_MODE="${EDGEPERF_DEV_MODE:-1}"
exec .venv/bin/edgeperf serve "$@"
