"""Backend interface and registry.

A backend turns a model file into a loaded :class:`Session` whose ``run()`` performs one
inference on fixed, pre-generated inputs. Backends are registered by name with the dotted
path of their class, and imported only when asked for, so the agent never imports a
runtime it does not use. Adding a backend means adding one module and one line to
``REGISTRY``; nothing else changes.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Protocol

import numpy as np

# name -> "module:Class"; the module is imported lazily.
REGISTRY: dict[str, str] = {
    "onnxruntime": "agent.backends.onnxruntime:OnnxRuntimeBackend",
    "litert": "agent.backends.litert:LiteRTBackend",
}


class BackendError(Exception):
    """A runtime failed to load or run a model; ``message`` is the runtime's own text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class Session(Protocol):
    """A loaded model ready to run on fixed inputs."""

    def run(self) -> None: ...

    def input_shapes(self) -> dict[str, list[int]]: ...

    def runtime_memory(self) -> dict[str, Any]: ...


class Backend(Protocol):
    name: str
    delegate: str

    def version(self) -> str: ...

    def load(self, path: str, *, threads: int, input_shapes: dict[str, list[int]] | None) -> Session: ...


def available() -> list[str]:
    """Names of registered backends whose runtime package is importable here."""
    names = []
    for name, target in REGISTRY.items():
        module = importlib.import_module(target.split(":")[0])
        if importlib.util.find_spec(getattr(module, "RUNTIME_PACKAGE", name)) is not None:
            names.append(name)
    return names


def get_backend(name: str) -> Backend:
    """Return the backend registered as ``name``; BackendError('unknown_runtime') otherwise."""
    target = REGISTRY.get(name)
    if target is None:
        raise BackendError("unknown_runtime", f"unknown runtime {name!r}; known: {sorted(REGISTRY)}")
    module_name, cls_name = target.split(":")
    backend = getattr(importlib.import_module(module_name), cls_name)()
    try:
        backend.version()  # imports the runtime
    except ImportError as exc:
        raise BackendError("runtime_unavailable", f"runtime {name!r} is not installed here: {exc}") from exc
    return backend


def random_input(shape: list[int], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    """Deterministic input data of ``shape``/``dtype`` (small ints for integer inputs)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low, high = max(int(info.min), 0), min(int(info.max), 8)
        return rng.integers(low, high, size=shape, endpoint=True).astype(dtype)
    return rng.standard_normal(size=shape).astype(dtype)


def resolve_shape(name: str, declared: list[Any], given: dict[str, list[int]] | None) -> list[int]:
    """Concrete shape for an input: the caller's shape if given, else declared dims with
    symbolic/unknown dimensions set to 1."""
    if given and name in given:
        shape = [int(d) for d in given[name]]
        if any(d <= 0 for d in shape):
            raise BackendError("bad_input_shape", f"input {name!r}: dimensions must be positive, got {shape}")
        return shape
    return [d if isinstance(d, int) and d > 0 else 1 for d in declared]
