"""onnxruntime backend: CPU execution provider, fixed thread count, sequential execution."""

from __future__ import annotations

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
    def __init__(self, session: Any, feeds: dict[str, np.ndarray]) -> None:
        self._session = session
        self._feeds = feeds
        self._outputs = [o.name for o in session.get_outputs()]

    def run(self) -> None:
        try:
            self._session.run(self._outputs, self._feeds)
        except Exception as exc:  # the runtime's own exception types vary by version
            raise BackendError("run_failed", str(exc)) from exc

    def input_shapes(self) -> dict[str, list[int]]:
        return {name: list(arr.shape) for name, arr in self._feeds.items()}

    def runtime_memory(self) -> dict[str, Any]:
        return {}


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
        return OnnxRuntimeSession(session, feeds)
