"""onnxruntime backend: CPU execution provider, fixed thread count, sequential execution."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agent.backends.base import BackendError, random_input, resolve_shape

RUNTIME_PACKAGE = "onnxruntime"

_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


class OnnxRuntimeSession:
    def __init__(self, session: Any, feeds: dict[str, np.ndarray], path: str = "",
                 options: Callable[[], Any] | None = None) -> None:
        self._session = session
        self._feeds = feeds
        self._outputs = [o.name for o in session.get_outputs()]
        self._path, self._options = path, options

    def run(self) -> None:
        try:
            self._session.run(self._outputs, self._feeds)
        except Exception as exc:  # the runtime's own exception types vary by version
            raise BackendError("run_failed", str(exc)) from exc

    def input_shapes(self) -> dict[str, list[int]]:
        return {name: list(arr.shape) for name, arr in self._feeds.items()}

    def runtime_memory(self) -> dict[str, Any]:
        """onnxruntime's own memory figures for one inference: its profiler records the CPU
        arena's statistics after every node; ``arena_peak_in_use_mb`` is the most the arena
        had handed out (activations plus weights pre-packed into the arena, e.g. MatMul/Gemm
        B matrices) and ``arena_held_mb`` what it had reserved from the OS. Taken from a separately loaded, profiled session of
        the same model (profiling would slow the timed one), so call it after the peak-RSS
        figure was taken. ``{}`` when this onnxruntime's profiler does not report them."""
        import onnxruntime as ort

        if self._options is None:
            return {}
        with tempfile.TemporaryDirectory(prefix="edgeperf-ortprof-") as tmp:
            opts = self._options()
            opts.enable_profiling = True
            opts.profile_file_prefix = str(Path(tmp) / "ort")
            try:
                session = ort.InferenceSession(self._path, opts, providers=["CPUExecutionProvider"])
                session.run(self._outputs, self._feeds)
                events = json.loads(Path(session.end_profiling()).read_text())
            except Exception as exc:  # a figure we cannot get is reported as missing, not fatal
                return {"error": str(exc)[:500]}
        return _profile_memory(events)


class OnnxRuntimeBackend:
    name = "onnxruntime"
    delegate = "CPUExecutionProvider"

    def version(self) -> str:
        import onnxruntime

        return str(onnxruntime.__version__)

    def options(self, threads: int) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        return opts

    def load(self, path: str, *, threads: int, input_shapes: dict[str, list[int]] | None) -> OnnxRuntimeSession:
        import onnxruntime as ort

        try:
            session = ort.InferenceSession(path, self.options(threads), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise BackendError("load_failed", str(exc)) from exc
        rng = np.random.default_rng(0)
        feeds = {}
        for inp in session.get_inputs():
            dtype = _DTYPES.get(inp.type)
            if dtype is None:
                raise BackendError("unsupported_input", f"input {inp.name!r} has type {inp.type}")
            feeds[inp.name] = random_input(resolve_shape(inp.name, list(inp.shape), input_shapes), dtype, rng)
        unknown = set(input_shapes or {}) - set(feeds)
        if unknown:
            raise BackendError("bad_input_shape", f"no such inputs: {sorted(unknown)}; model has {sorted(feeds)}")
        return OnnxRuntimeSession(session, feeds, path, lambda: self.options(threads))


def _profile_memory(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Arena figures (MB) from onnxruntime profiler events of one run. (The events'
    ``parameter_size`` is left out: it omits pre-packed weights, so it misleads.)"""
    nodes = [e.get("args", {}) for e in events if e.get("cat") == "Node"]
    nodes = [a for a in nodes if "mem_in_use_peak" in a]
    if not nodes:
        return {}
    mb = 1024.0 * 1024.0
    return {
        "source": "onnxruntime profiler (CPU arena)",
        "arena_peak_in_use_mb": round(max(int(a["mem_in_use_peak"]) for a in nodes) / mb, 3),
        "arena_held_mb": round(max(int(a.get("mem_arena_held", 0)) for a in nodes) / mb, 3),
    }
