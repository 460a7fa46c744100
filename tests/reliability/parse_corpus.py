"""Child-process runner: parse every file of a directory with ``load_model`` under
an address-space limit, and write one JSON line per file (outcome, seconds, peak RSS).

Usage: python -m tests.reliability.parse_corpus DIR OUT.jsonl MAX_SECONDS MAX_AS_BYTES
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """VmHWM of this process image (``ru_maxrss`` would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    src, out, max_seconds, max_as = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    resource.setrlimit(resource.RLIMIT_AS, (max_as, max_as))
    from predictor.frontends import load_model
    from predictor.graph.ir import IRError
    from predictor.graph.limits import Limits

    limits = Limits(max_file_bytes=32 * 1024 * 1024, max_nodes=100_000, max_seconds=max_seconds)
    with open(out, "w") as fh:
        for path in sorted(Path(src).iterdir()):
            data = path.read_bytes()
            started = time.perf_counter()
            try:
                g = load_model(data, filename=path.name.split("__", 1)[1], limits=limits)
                outcome = {"result": "graph", "nodes": len(g.nodes)}
            except IRError as exc:
                outcome = {"result": "irerror", "code": exc.code, "message": exc.message}
            except BaseException as exc:  # noqa: BLE001 - the test wants to see every escape
                outcome = {"result": "crash", "error": f"{type(exc).__name__}: {exc}"[:500]}
            outcome.update(
                file=path.name,
                seconds=time.perf_counter() - started,
                maxrss_mb=peak_rss_mb(),
            )
            fh.write(json.dumps(outcome) + "\n")
            fh.flush()


if __name__ == "__main__":
    main()
