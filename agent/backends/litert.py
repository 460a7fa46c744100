"""LiteRT (ai-edge-litert) backend: the TFLite interpreter with XNNPACK, fixed thread count."""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.backends.base import BackendError, random_input, resolve_shape

RUNTIME_PACKAGE = "ai_edge_litert"


class LiteRTSession:
    def __init__(self, interpreter: Any) -> None:
        self._interp = interpreter

    def run(self) -> None:
        try:
            self._interp.invoke()
        except Exception as exc:
            raise BackendError("run_failed", str(exc)) from exc

    def input_shapes(self) -> dict[str, list[int]]:
        return {d["name"]: [int(x) for x in d["shape"]] for d in self._interp.get_input_details()}

    def runtime_memory(self) -> dict[str, Any]:
        """LiteRT's Python interpreter exposes no arena or allocation statistics (the C++
        ``Interpreter`` keeps them; the Python binding does not pass them on), so there is no
        runtime figure to report: the peak RSS of the memory child is the figure."""
        return {}


class LiteRTBackend:
    name = "litert"
    delegate = "xnnpack"

    def version(self) -> str:
        from importlib.metadata import version

        return version("ai-edge-litert")

    def load(self, path: str, *, threads: int, input_shapes: dict[str, list[int]] | None) -> LiteRTSession:
        from ai_edge_litert.interpreter import Interpreter

        try:
            interp = Interpreter(model_path=path, num_threads=threads)
            details = interp.get_input_details()
            names = {d["name"] for d in details}
            unknown = set(input_shapes or {}) - names
            if unknown:
                raise BackendError("bad_input_shape", f"no such inputs: {sorted(unknown)}; model has {sorted(names)}")
            for d in details:
                declared = [int(x) for x in d.get("shape_signature", d["shape"])]
                shape = resolve_shape(d["name"], declared, input_shapes)
                if shape != [int(x) for x in d["shape"]]:
                    interp.resize_tensor_input(d["index"], shape)
            interp.allocate_tensors()
            rng = np.random.default_rng(0)
            for d in interp.get_input_details():
                interp.set_tensor(d["index"], random_input(list(d["shape"]), d["dtype"], rng))
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError("load_failed", str(exc)) from exc
        return LiteRTSession(interp)
