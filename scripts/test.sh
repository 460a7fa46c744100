#!/usr/bin/env bash
# Set up everything on a fresh machine (venv, dependencies, browser) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_setup.sh
setup_env dev
setup_browser
exec .venv/bin/python -m pytest -q -n 2 --dist loadfile "$@"
