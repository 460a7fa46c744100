"""Resource limits for parsing untrusted model files, and a deadline helper."""

from __future__ import annotations

import time
from dataclasses import dataclass

from predictor.graph.ir import IRError


@dataclass(frozen=True)
class Limits:
    """Bounds a parse may not exceed; every breach raises ``IRError("too_large"|"timeout")``.

    ``max_file_bytes`` is checked before any parsing, ``max_nodes`` as soon as the
    node count is known (subgraphs included), ``max_tensor_elements`` for every
    tensor whose shape is resolved, ``max_seconds`` inside every parse loop.
    """

    max_file_bytes: int = 512 * 1024 * 1024
    max_nodes: int = 200_000
    max_tensor_elements: int = 2**31
    max_seconds: float = 30.0

    def check_file_size(self, size: int) -> None:
        if size > self.max_file_bytes:
            raise IRError(
                "too_large",
                f"model file is {size} bytes; the limit is {self.max_file_bytes} bytes",
            )

    def check_nodes(self, count: int) -> None:
        if count > self.max_nodes:
            raise IRError("too_large", f"model has {count} operators; the limit is {self.max_nodes}")

    def check_tensor(self, name: str, shape: list[int] | None) -> None:
        if not shape or any(d < 0 for d in shape):
            return
        n = 1
        for d in shape:
            n *= d
        if n > self.max_tensor_elements:
            raise IRError(
                "too_large",
                f"tensor {name!r} has shape {shape} ({n} elements); "
                f"the limit is {self.max_tensor_elements} elements",
            )

    def deadline(self) -> Deadline:
        return Deadline(self.max_seconds)


class Deadline:
    """Wall-clock budget of one parse; ``check()`` raises ``IRError("timeout")`` once spent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self, where: str = "") -> None:
        if time.monotonic() > self.end:
            at = f" while {where}" if where else ""
            raise IRError("timeout", f"parsing took longer than {self.seconds:g} s{at}")
