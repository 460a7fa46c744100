"""Front ends: model bytes -> IR :class:`~predictor.graph.ir.Graph`.

``load_model`` is the one entry point; it checks the file size limit before any
parsing and maps every failure to :class:`~predictor.graph.ir.IRError`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import struct
import time
from collections.abc import Iterator

from predictor.graph.ir import Graph, IRError
from predictor.graph.limits import Limits

log = logging.getLogger(__name__)

#: first byte of a serialized ONNX ModelProto: the tag of one of its fields
_ONNX_FIRST_TAGS = {0x08, 0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0xA2, 0xCA}


def detect_format(data: bytes, filename: str | None = None) -> str:
    """``"tflite"`` or ``"onnx"`` from the bytes (magic first, extension second)."""
    if len(data) >= 8 and data[4:8] == b"TFL3":
        return "tflite"
    ext = (filename or "").lower().rsplit(".", 1)[-1] if filename and "." in filename else ""
    if ext == "tflite":
        return "tflite"
    if data and (data[0] in _ONNX_FIRST_TAGS or ext == "onnx"):
        return "onnx"
    raise IRError(
        "unknown_format",
        "the file is neither ONNX (protobuf ModelProto) nor TFLite (flatbuffer with 'TFL3' identifier)",
    )


def load_model(
    data: bytes,
    *,
    filename: str | None = None,
    input_shapes: dict[str, list[int]] | None = None,
    limits: Limits | None = None,
    external_data: dict[str, bytes] | None = None,
) -> Graph:
    """Parse ONNX or TFLite bytes into IR. Raises :class:`IRError` on any bad input."""
    limits = limits or Limits()
    if not isinstance(data, bytes | bytearray | memoryview):
        raise IRError("invalid_model", f"model data must be bytes, not {type(data).__name__}")
    data = bytes(data) if not isinstance(data, bytes) else data
    limits.check_file_size(len(data))
    if not data:
        raise IRError("invalid_model", "the model file is empty")
    fmt = detect_format(data, filename)
    started = time.perf_counter()
    name = (filename or "").rsplit("/", 1)[-1]
    with _gc_paused():
        g = _parse(fmt, data, name, input_shapes, limits, external_data)
    log.info(
        "model.parsed",
        extra={"format": fmt, "nodes": len(g.nodes), "seconds": round(time.perf_counter() - started, 4)},
    )
    return g


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing allocates many small objects and no reference cycles; the cyclic
    collector would rescan them over and over (parse time grew superlinearly)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def preload() -> None:
    """Import both front ends and what they use (onnx and its shape inference: about 0.7 s).

    ``load_model`` imports a front end on first use, so a client or an agent pays only for the
    format it reads; a server calls this at start-up so that its first upload does not."""
    from predictor.frontends.onnx import parse_onnx  # noqa: F401
    from predictor.frontends.tflite import parse_tflite  # noqa: F401


def _parse(
    fmt: str,
    data: bytes,
    name: str,
    input_shapes: dict[str, list[int]] | None,
    limits: Limits,
    external_data: dict[str, bytes] | None,
) -> Graph:
    try:
        if fmt == "onnx":
            from predictor.frontends.onnx import parse_onnx

            g = parse_onnx(data, input_shapes=input_shapes, limits=limits, external_data=external_data, name=name)
        else:
            from predictor.frontends.tflite import parse_tflite

            g = parse_tflite(data, input_shapes=input_shapes, limits=limits, name=name)
        g.check_acyclic()
        g.make_text_safe()
    except IRError:
        raise
    except RecursionError as exc:
        raise IRError("invalid_model", "the model nests too deeply to be parsed") from exc
    except MemoryError as exc:
        raise IRError("too_large", "the model needs more memory than is available to parse") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, struct.error) as exc:
        log.warning("model.parse_failed", exc_info=True, extra={"format": fmt})
        raise IRError("invalid_model", f"the {fmt} model is malformed: {type(exc).__name__}: {exc}") from exc
    return g
