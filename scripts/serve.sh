#!/usr/bin/env bash
# Set up on a fresh machine and start the service (SQLite under ./data, shipped checkpoints and devices).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_setup.sh
setup_env serve
exec .venv/bin/edgeperf serve "$@"
