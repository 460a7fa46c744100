"""Parse an uploaded model into IR within the configured limits, off the request thread.

The front end checks ``Limits`` (size, node count, tensor size, deadline) itself; the
wait here is a second guard so a request never hangs past ``parse_timeout_s``."""

from __future__ import annotations

import json
import logging
from concurrent.futures import Executor
from concurrent.futures import TimeoutError as FutureTimeout

from predictor.frontends import load_model
from predictor.graph.ir import Graph as IRGraph
from predictor.graph.ir import IRError
from predictor.graph.limits import Limits

log = logging.getLogger(__name__)

_GRACE_S = 2.0  # extra wait beyond the front end's own deadline
_MAX_INPUTS = 256
_MAX_RANK = 16


def parse_input_shapes(raw: str | None) -> dict[str, list[int]] | None:
    """The ``input_shapes`` form field: a JSON object, input name -> list of ints."""
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise IRError("invalid_input_shapes", f"input_shapes is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, dict) or len(value) > _MAX_INPUTS:
        raise IRError("invalid_input_shapes", "input_shapes must be a JSON object: input name -> [ints]")
    shapes: dict[str, list[int]] = {}
    for name, dims in value.items():
        ok = (
            isinstance(dims, list)
            and len(dims) <= _MAX_RANK
            and all(isinstance(d, int) and not isinstance(d, bool) and 0 < d < 2**31 for d in dims)
        )
        if not ok:
            raise IRError("invalid_input_shapes", f"input_shapes[{name!r}] must be a list of positive ints")
        shapes[str(name)] = dims
    return shapes


def parse_model(
    executor: Executor,
    data: bytes,
    filename: str | None,
    input_shapes: dict[str, list[int]] | None,
    limits: Limits,
) -> IRGraph:
    """Run ``load_model`` in ``executor`` and wait at most the parse time limit."""
    future = executor.submit(load_model, data, filename=filename, input_shapes=input_shapes, limits=limits)
    try:
        return future.result(timeout=limits.max_seconds + _GRACE_S)
    except FutureTimeout as exc:
        future.cancel()
        log.warning("graph.parse.timeout", extra={"model_filename": filename, "bytes": len(data)})
        raise IRError("timeout", f"parsing took longer than {limits.max_seconds:g} s") from exc
    except IRError:
        raise
    except (RecursionError, MemoryError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        log.warning("graph.parse.crashed", extra={"model_filename": filename, "error": repr(exc)})
        raise IRError("invalid_model", f"the model could not be parsed ({type(exc).__name__})") from exc
