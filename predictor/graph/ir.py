"""The operator-graph IR: one representation of a network for every front end.

A :class:`Graph` holds :class:`Node` objects (operators with a canonical op type
from :mod:`predictor.graph.ops`), and edges that follow real data flow, producer
node index -> consumer node index. Tensors are described by :class:`TensorInfo`.

The IR is plain data: it serialises to a JSON-able dict (``to_dict``) and back
(``Graph.from_dict``); that document is what clients send instead of weights.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

IR_VERSION = 1

#: dtype name -> bytes per element. Names follow numpy spelling.
DTYPE_BYTES: dict[str, int] = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "int32": 4,
    "uint32": 4,
    "int64": 8,
    "uint64": 8,
    "bool": 1,
    "int4": 1,
    "uint4": 1,
    "string": 8,
    "complex64": 8,
    "unknown": 4,
}


_GC_LOCK = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False
_gc_paused_since = 0.0
#: Overlapping users can keep the collector off indefinitely under steady load; a user leaving
#: a pause older than this runs one full collection, so cyclic garbage stays bounded.
GC_PAUSE_MAX_S = 10.0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while many graphs are built at once.

    Hundreds of parsed graphs are millions of live objects; each automatic collection
    walks all of them, which made batch parsing ~4x slower. IR objects hold no cycles,
    so reference counting frees them anyway. Nested and concurrent users are counted:
    the collector is re-enabled (if it was on) when the last one leaves. Drop what was
    built before leaving: objects freed while the collector is off are never walked.
    A pause kept up by overlapping users for over :data:`GC_PAUSE_MAX_S` gets one full
    collection as a user leaves."""
    global _gc_pausers, _gc_was_enabled, _gc_paused_since
    with _GC_LOCK:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            _gc_paused_since = time.monotonic()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        collect = False
        with _GC_LOCK:
            _gc_pausers -= 1
            if _gc_pausers == 0:
                if _gc_was_enabled:
                    gc.enable()
            elif _gc_was_enabled and time.monotonic() - _gc_paused_since > GC_PAUSE_MAX_S:
                _gc_paused_since = time.monotonic()
                collect = True
        if collect:
            gc.collect()


_PLAIN = frozenset({str, int, bool, type(None)})


def json_safe(value: Any, depth: int = 0) -> Any:
    """A JSON- and PostgreSQL-safe copy of an attribute value: bytes decoded, numpy
    scalars and arrays made plain, non-finite floats as None, nesting bounded."""
    if depth > 16:
        return None
    kind = type(value)  # fast path for the exact JSON types (what IR documents hold)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is list:
        if depth < 16:  # plain scalars inside are kept as they are, without a call each
            return [v if type(v) in _PLAIN else json_safe(v, depth + 1) for v in value]
        return [json_safe(v, depth + 1) for v in value]
    if kind is dict:
        if depth < 16:
            return {str(k): v if type(v) in _PLAIN else json_safe(v, depth + 1) for k, v in value.items()}
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace").replace("\x00", "")
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v, depth + 1) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist(), depth + 1)
    return str(value)


class IRError(ValueError):
    """A model could not be turned into IR. ``code`` is a short machine-readable
    reason (``truncated``, ``unknown_format``, ``too_large``, ``shape_mismatch``,
    ``external_data``, ``invalid_model``, ``timeout``, ...); the message says
    what is wrong and, where possible, what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return f"{self.code}: {self.message}"


@dataclass
class TensorInfo:
    """A tensor flowing between (or into) operators.

    ``shape`` is None when rank is unknown; a dimension is -1 when it could not
    be resolved. ``quantized`` is True when quantization parameters (scale /
    zero point) are attached.
    """

    name: str
    shape: list[int] | None = None
    dtype: str = "float32"
    quantized: bool = False
    is_const: bool = False

    @property
    def resolved(self) -> bool:
        s = self.shape
        return s is not None and (not s or min(s) >= 0)

    @property
    def numel(self) -> int:
        """Number of elements; 0 when the shape is not resolved."""
        s = self.shape
        if s is None or (s and min(s) < 0):
            return 0
        return math.prod(s)

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_BYTES.get(self.dtype, 4)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "shape": self.shape, "dtype": self.dtype}
        if self.quantized:
            d["quantized"] = True
        if self.is_const:
            d["is_const"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorInfo:
        shape = d.get("shape")
        return cls(
            name=str(d.get("name", "")),
            shape=None if shape is None else [int(x) for x in shape],
            dtype=str(d.get("dtype", "float32")),
            quantized=bool(d.get("quantized", False)),
            is_const=bool(d.get("is_const", False)),
        )


@dataclass
class Node:
    """One operator.

    ``op`` is the canonical op type (see :mod:`predictor.graph.ops`), or
    ``unknown:<source name>``. ``source_op`` is the front end's own name
    (ONNX ``op_type``, TFLite builtin or custom code). ``inputs`` are the
    activation inputs, ``weights`` the constant inputs (initializers / buffers).
    """

    name: str
    op: str
    source_op: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    inputs: list[TensorInfo] = field(default_factory=list)
    weights: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    flops: int = 0
    macs: int = 0
    params: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    subgraph: str = ""  # name of the (sub)graph the node came from; "" = main

    @property
    def is_unknown(self) -> bool:
        return self.op.startswith("unknown:")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "source_op": self.source_op,
            "attrs": json_safe(self.attrs),
            "inputs": [t.to_dict() for t in self.inputs],
            "weights": [t.to_dict() for t in self.weights],
            "outputs": [t.to_dict() for t in self.outputs],
            "flops": self.flops,
            "macs": self.macs,
            "params": self.params,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "subgraph": self.subgraph,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Node:
        return cls(
            name=str(d.get("name", "")),
            op=str(d["op"]),
            source_op=str(d.get("source_op", "")),
            attrs=json_safe(dict(d.get("attrs") or {})),
            inputs=[TensorInfo.from_dict(t) for t in d.get("inputs") or []],
            weights=[TensorInfo.from_dict(t) for t in d.get("weights") or []],
            outputs=[TensorInfo.from_dict(t) for t in d.get("outputs") or []],
            flops=int(d.get("flops", 0)),
            macs=int(d.get("macs", 0)),
            params=int(d.get("params", 0)),
            bytes_read=int(d.get("bytes_read", 0)),
            bytes_written=int(d.get("bytes_written", 0)),
            subgraph=str(d.get("subgraph", "")),
        )


@dataclass
class Graph:
    """A network: nodes plus data-flow edges (producer index -> consumer index)."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    format: str = "ir"
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    # -- construction helpers -------------------------------------------------
    def connect_by_tensor_names(self) -> None:
        """Derive edges from tensor names: an edge producer -> consumer for each
        activation tensor a node reads that another node writes. Order of
        ``nodes`` plays no role."""
        producer: dict[str, int] = {}
        for i, n in enumerate(self.nodes):
            for t in n.outputs:
                producer[t.name] = i
        edges: set[tuple[int, int]] = set()
        for j, n in enumerate(self.nodes):
            for t in n.inputs:
                i = producer.get(t.name)
                if i == j:
                    raise IRError("cycle", f"operator {n.name or j!r} reads its own output {t.name!r}")
                if i is not None:
                    edges.add((i, j))
        self.edges = sorted(edges)

    def make_text_safe(self) -> None:
        """Names, op types and metadata as str: a corrupted file can carry invalid UTF-8,
        which protobuf hands back as bytes and no JSON column can store."""

        def text(value: Any) -> str:
            return value if isinstance(value, str) else str(json_safe(value))

        self.name = text(self.name)
        self.meta = json_safe(self.meta)
        for n in self.nodes:
            n.name, n.op, n.source_op, n.subgraph = text(n.name), text(n.op), text(n.source_op), text(n.subgraph)
            for t in (*n.inputs, *n.weights, *n.outputs):
                t.name, t.dtype = text(t.name), text(t.dtype)
        for t in (*self.inputs, *self.outputs):
            t.name, t.dtype = text(t.name), text(t.dtype)

    def check_acyclic(self) -> None:
        """Raise ``IRError("cycle")`` when the data-flow edges form a cycle (Kahn's algorithm)."""
        indegree = [0] * len(self.nodes)
        succ: list[list[int]] = [[] for _ in self.nodes]
        for a, b in self.edges:
            succ[a].append(b)
            indegree[b] += 1
        ready = [i for i, d in enumerate(indegree) if d == 0]
        seen = 0
        while ready:
            i = ready.pop()
            seen += 1
            for j in succ[i]:
                indegree[j] -= 1
                if indegree[j] == 0:
                    ready.append(j)
        if seen != len(self.nodes):
            stuck = [self.nodes[i].name or str(i) for i, d in enumerate(indegree) if d > 0][:5]
            raise IRError("cycle", f"the graph's data flow has a cycle through operators {stuck}; a model must be acyclic")

    # -- summaries ----------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        hist = Counter(n.op for n in self.nodes)
        unknown = Counter(n.op.split(":", 1)[1] for n in self.nodes if n.is_unknown)
        unresolved: set[str] = set()
        for n in self.nodes:
            for t in (*n.inputs, *n.outputs):
                if not t.resolved:
                    unresolved.add(t.name)
        return {
            "nodes": len(self.nodes),
            "edges": len(self.edges),
            "macs": sum(n.macs for n in self.nodes),
            "flops": sum(n.flops for n in self.nodes),
            "params": sum(n.params for n in self.nodes),
            "bytes_read": sum(n.bytes_read for n in self.nodes),
            "bytes_written": sum(n.bytes_written for n in self.nodes),
            "unknown_ops": sum(unknown.values()),
            "unknown_op_types": dict(sorted(unknown.items())),
            "unresolved_tensors": len(unresolved),
            "folded_nodes": int(self.meta.get("folded_nodes", 0)),
            "op_histogram": dict(sorted(hist.items())),
            "inputs": {t.name: t.shape for t in self.inputs},
            "input_dtypes": {t.name: t.dtype for t in self.inputs},
            "outputs": {t.name: t.shape for t in self.outputs},
            "quantized": any(t.quantized for n in self.nodes for t in (*n.inputs, *n.outputs)),
            "format": self.format,
        }

    # -- serialisation ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "ir_version": IR_VERSION,
            "name": self.name,
            "format": self.format,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [list(e) for e in self.edges],
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, max_nodes: int = 200_000) -> Graph:
        """Rebuild a graph from :meth:`to_dict` output, validating structure.

        Raises :class:`IRError` (code ``invalid_ir``) on anything malformed."""
        try:
            if not isinstance(d, dict):
                raise TypeError("IR document must be a JSON object")
            nodes_raw = d.get("nodes")
            if not isinstance(nodes_raw, list) or not nodes_raw:
                raise ValueError("IR document needs a non-empty 'nodes' list")
            if len(nodes_raw) > max_nodes:
                raise IRError("too_large", f"IR has {len(nodes_raw)} nodes; the limit is {max_nodes}")
            nodes = [Node.from_dict(n) for n in nodes_raw]
            edges: list[tuple[int, int]] = []
            for e in d.get("edges") or []:
                a, b = int(e[0]), int(e[1])
                if not (0 <= a < len(nodes) and 0 <= b < len(nodes)) or a == b:
                    raise ValueError(f"edge {e!r} does not join two distinct nodes of the graph")
                edges.append((a, b))
            g = cls(
                nodes=nodes,
                edges=edges,
                inputs=[TensorInfo.from_dict(t) for t in d.get("inputs") or []],
                outputs=[TensorInfo.from_dict(t) for t in d.get("outputs") or []],
                format=str(d.get("format", "ir")),
                name=str(d.get("name", "")),
                meta=dict(d.get("meta") or {}),
            )
        except IRError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:  # a tensor that is no object
            raise IRError("invalid_ir", f"malformed IR document: {exc}") from exc
        return g
