"""The columns form of a graph: what featurisation reads of an IR document, as a few packed
arrays, for clients that send many graphs (a NAS loop).

An IR document spells every node out as JSON objects (a NAS-Bench-201 network: 121 nodes,
90 KB); the server spent more time parsing and freeing those objects than featurising and
predicting them. The columns form carries the same information as one array per field, so
the server decodes it with ``numpy.frombuffer`` and no per-node Python objects, and its
features are exactly those of the IR document it was made from (``tests/predictor/test_columns.py``).

A columns document is a JSON object::

    {"columns": 1,                        # the form's version
     "op_table": ["conv", "relu", ...],   # the distinct op names
     "op": B64(int32 [n]),                # each node's op, an index into op_table
     "costs": B64(float64 [n, 5]),        # flops, macs, params, bytes_read, bytes_written
     "attrs": B64(float64 [n, 5]),        # kernel_h, kernel_w, stride, groups, dilation
     "nhwc": B64(uint8 [n]),              # 1: the node's tensors are NHWC
     "ranks": B64(int32 [2 n]),           # rank of each node's first input, first output (-1: no shape)
     "dims": B64(float64 [sum of ranks]), # those tensors' dims, flat (-1: unresolved)
     "counts": B64(int32 [n, 3]),         # number of inputs, dtype class (0 float32, 1 float16/bfloat16,
                                          # 2 int8/uint8, 3 other), quantized (0/1)
     "edges": B64(int64 [E, 2]),          # data-flow edges (producer, consumer) by node index
     "names": ["...", ...],               # optional: node names (a breakdown's labels)
     "unresolved": ["...", ...]}          # optional: names of tensors with unresolved shapes

where ``B64(dtype [shape])`` is the base64 of the little-endian array in row-major order. Costs,
attributes and dims are whole numbers; they travel as float64, the precision featurisation
computes in, so that a count past 2^63 (a document may hold one) reads as it does from an IR
document.
:func:`to_columns` makes one from a model's IR; the server reads it with :func:`from_columns`.
Every field is checked (lengths, ranges, edges) and a bad one is an ``IRError`` naming it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np

from predictor.features import _Doc, _gather, _int_column, _op_code
from predictor.graph.ir import Graph, IRError

VERSION = 1
#: name -> (dtype, values per node or None for a free length)
ARRAYS: dict[str, tuple[str, int | None]] = {
    "op": ("<i4", 1),
    "costs": ("<f8", 5),
    "attrs": ("<f8", 5),
    "nhwc": ("u1", 1),
    "ranks": ("<i4", 2),
    "dims": ("<f8", None),
    "counts": ("<i4", 3),
    "edges": ("<i8", None),
}
KEYS = frozenset(ARRAYS) | {"columns", "op_table", "names", "unresolved"}
MAX_NAME = 512


def _b64(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def to_columns(graph: Graph | Mapping[str, Any], names: bool = False) -> dict[str, Any]:
    """The columns document of an IR ``Graph`` or IR document (``names``: include node names).
    Raises ``IRError`` for a document featurisation would refuse, like the server would."""
    doc = graph.to_dict() if isinstance(graph, Graph) else graph
    try:
        g = _gather(doc, None, scan=True)
        costs = _int_column([g.ints])
        attrs = _int_column([g.attrs])
        dims = _int_column([g.dims])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        raise IRError("invalid_ir", f"malformed IR document: {exc}") from exc
    table = list(dict.fromkeys(g.ops))
    index = {op: i for i, op in enumerate(table)}
    out: dict[str, Any] = {
        "columns": VERSION,
        "op_table": table,
        "op": _b64(np.array([index[op] for op in g.ops]), "<i4"),
        "costs": _b64(costs, "<f8"),
        "attrs": _b64(attrs, "<f8"),
        "nhwc": _b64(np.array(g.nhwc, dtype=np.uint8), "u1"),
        "ranks": _b64(np.array(g.lens), "<i4"),
        "dims": _b64(dims, "<f8"),
        "counts": _b64(np.array(g.counts, dtype=np.int64), "<i4"),
        "edges": _b64(g.edges, "<i8"),
    }
    if names:
        out["names"] = list(g.names)
    if g.unresolved:
        out["unresolved"] = sorted(g.unresolved)
    return out


def _bad(field: str, why: str) -> IRError:
    return IRError("invalid_ir", f"columns document: {field} {why}")


def _array(doc: Mapping[str, Any], name: str) -> np.ndarray:
    dtype, per = ARRAYS[name]
    raw = doc.get(name)
    if not isinstance(raw, str):
        raise _bad(name, "must be a base64 string")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad(name, f"is not valid base64 ({exc})") from exc
    size = np.dtype(dtype).itemsize
    if len(data) % size:
        raise _bad(name, f"holds {len(data)} bytes, not a whole number of {np.dtype(dtype).name} values")
    values = np.frombuffer(data, dtype=dtype)
    if values.dtype.kind == "f":
        if not np.isfinite(values).all() or (values != np.trunc(values)).any():
            raise _bad(name, "must hold whole, finite numbers")
        return values.astype(np.float64)
    return values.astype(np.int64)


def _names(doc: Mapping[str, Any], key: str, limit: int) -> list[str] | None:
    raw = doc.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > limit:
        raise _bad(key, f"must be a list of at most {limit} strings")
    if not all(isinstance(v, str) and len(v) <= MAX_NAME for v in raw):
        raise _bad(key, f"must hold strings of at most {MAX_NAME} characters")
    return raw


def from_columns(doc: Any, max_nodes: int | None = 200_000) -> _Doc:
    """A columns document, checked, as featurisation's gathered form (pass it to
    ``featurize_many`` / ``featurize_scanned`` like an IR document). Raises ``IRError``:
    ``invalid_ir`` naming the bad field, ``too_large`` past ``max_nodes``."""
    if not isinstance(doc, Mapping):
        raise _bad("document", "must be a JSON object")
    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise _bad("document", f"has unknown field(s) {unknown}; known: {sorted(KEYS)}")
    if doc.get("columns") != VERSION:
        raise _bad("columns", f"must be {VERSION} (the form's version), got {doc.get('columns')!r}")
    op = _array(doc, "op")
    n = len(op)
    if not n:
        raise _bad("op", "is empty: a graph needs at least one node")
    if max_nodes is not None and n > max_nodes:
        raise IRError("too_large", f"IR has {n} nodes; the limit is {max_nodes}")
    table = _names(doc, "op_table", n)
    if not table:
        raise _bad("op_table", "must be a non-empty list of op names")
    if op.min() < 0 or op.max() >= len(table):
        raise _bad("op", f"indices must lie in 0..{len(table) - 1} (the op_table)")
    arrays = {}
    for name, (_, per) in ARRAYS.items():
        a = op if name == "op" else _array(doc, name)
        if per is not None and len(a) != per * n:
            raise _bad(name, f"holds {len(a)} values; {per} per node ({per * n}) expected")
        arrays[name] = a
    ranks, counts, nhwc = arrays["ranks"], arrays["counts"].reshape(n, 3), arrays["nhwc"]
    if ranks.min() < -1:
        raise _bad("ranks", "must be -1 (no shape) or more")
    if len(arrays["dims"]) != int(np.maximum(ranks, 0).sum()):
        raise _bad("dims", f"holds {len(arrays['dims'])} values; the ranks add up to {int(np.maximum(ranks, 0).sum())}")
    if nhwc.max() > 1:
        raise _bad("nhwc", "values must be 0 or 1")
    if counts[:, 0].min() < 0 or counts[:, 1].min() < 0 or counts[:, 1].max() > 3 or counts[:, 2].max() > 1 \
            or counts[:, 2].min() < 0:
        raise _bad("counts", "must hold n_inputs >= 0, a dtype class in 0..3 and quantized 0 or 1 per node")
    if len(arrays["edges"]) % 2:
        raise _bad("edges", "must hold pairs")
    names = _names(doc, "names", n)
    if names is not None and len(names) != n:
        raise _bad("names", f"holds {len(names)} names for {n} nodes")
    unresolved = _names(doc, "unresolved", 4 * n)

    g = _Doc()
    g.n = n
    g.ops = [table[i] for i in op.tolist()]
    g.names = names if names is not None else [""] * n
    g.codes = np.array([_op_code(o) for o in table], dtype=np.int64)[op]
    g.ints, g.attrs, g.dims = arrays["costs"], arrays["attrs"], arrays["dims"]
    g.nhwc, g.lens, g.counts = nhwc, ranks, arrays["counts"]
    g.unresolved = set(unresolved or ())
    edges = arrays["edges"].reshape(-1, 2)
    bad = (edges < 0).any(1) | (edges >= n).any(1) | (edges[:, 0] == edges[:, 1])
    if bad.any():
        raise _bad("edges", f"pair {edges[int(np.argmax(bad))].tolist()} does not join two distinct nodes of the graph")
    g.edges = edges
    return g
