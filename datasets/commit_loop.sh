#!/usr/bin/env bash
# Commit new corpus shards every INTERVAL seconds (default 600). Touches only datasets/corpus.
# Usage: nohup datasets/commit_loop.sh [INTERVAL] >> data/commit-loop.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
interval="${1:-600}"
commit_once() {
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if [ -e .git/index.lock ]; then sleep 3; continue; fi
    git add datasets/corpus 2>/dev/null || { sleep 3; continue; }
    if git diff --cached --quiet -- datasets/corpus; then return 0; fi
    n=$(git diff --cached --name-only -- datasets/corpus | wc -l)
    if git commit -q -m "corpus: ${n} new file(s) from the measurement runs" -- datasets/corpus; then
      echo "$(date -u +%FT%TZ) committed ${n} file(s)"; return 0
    fi
    sleep 3
  done
  echo "$(date -u +%FT%TZ) gave up this round (index busy)"
}
while true; do
  commit_once
  sleep "$interval"
done
