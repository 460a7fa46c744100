"""Peak memory of one inference, measured in a dedicated child process.

The child imports the runtime, resets its peak-RSS counter (``/proc/self/clear_refs``
"5", Linux >= 4.0) or, where that is not possible, takes the peak so far as baseline,
then loads the model and runs a few inferences. The answer is the child's peak RSS
minus that baseline, so the interpreter and the runtime library are not counted.
Run as ``python -m agent.memory '<json>'``; it prints one JSON object.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class PeakMemoryError(Exception):
    """The memory child failed; carries the child's error text."""


def _status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, flags=re.MULTILINE)
    return int(match.group(1)) if match else None


def _peak_kb() -> int:
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def _reset_peak() -> tuple[int, str]:
    """Reset the peak counter where possible; returns (baseline kB, method)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        rss = _status_kb("VmRSS")
        if rss is not None:
            return rss, "vmhwm_reset"
    except OSError:
        pass
    return _peak_kb(), "peak_since_start"


def child_main(args: dict[str, Any]) -> dict[str, Any]:
    from agent.backends import get_backend

    backend = get_backend(args["runtime"])
    backend.version()  # import the runtime before the baseline
    baseline_kb, method = _reset_peak()
    session = backend.load(args["path"], threads=args["threads"], input_shapes=args.get("input_shapes"))
    after_load_kb = _peak_kb()
    for _ in range(max(1, int(args.get("runs", 3)))):
        session.run()
    peak_kb = _peak_kb()
    return {
        "peak_memory_mb": round((peak_kb - baseline_kb) / 1024, 3),
        "load_memory_mb": round((after_load_kb - baseline_kb) / 1024, 3),
        "baseline_mb": round(baseline_kb / 1024, 3),
        "method": method,
        "runtime_memory": session.runtime_memory(),
    }


def measure_peak(path: str, runtime: str, threads: int, input_shapes: dict[str, list[int]] | None = None,
                 runs: int = 3, timeout_s: float = 300.0) -> dict[str, Any]:
    """Run :func:`child_main` in a fresh interpreter; raises PeakMemoryError on failure."""
    payload = json.dumps({"path": str(path), "runtime": runtime, "threads": threads,
                          "input_shapes": input_shapes, "runs": runs})
    try:
        proc = subprocess.run([sys.executable, "-m", "agent.memory", payload], capture_output=True,
                              text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PeakMemoryError(f"memory child timed out after {timeout_s}s") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise PeakMemoryError(proc.stderr.strip()[-2000:] or f"memory child exited with {proc.returncode}")
    result = json.loads(lines[-1])
    if "error" in result:
        raise PeakMemoryError(result["error"]["message"])
    return result


def _main() -> int:
    from agent.backends import BackendError

    try:
        result: dict[str, Any] = child_main(json.loads(sys.argv[1]))
    except BackendError as exc:
        result = {"error": exc.to_dict()}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
