"""IR -> ``torch_geometric.data.Data``: the ONE featurisation path.

Training, evaluation, baselines and the service all call :func:`featurize` (one
graph) or :func:`featurize_many` (a batch, errors per item). Both take a
:class:`~predictor.graph.ir.Graph` or its IR document (the ``Graph.to_dict()``
form that clients send and the database stores); a document is read directly,
without building ``Graph``/``Node`` objects, and gives the same features as
``featurize(Graph.from_dict(doc))``. A checkpoint records
:data:`FEATURE_SCHEMA_VERSION` and refuses to run on features of another version.

Node features (``x``, float32, :data:`NODE_DIM` columns):

* one-hot op type over :data:`OP_VOCAB` (aliases folded), plus hashed buckets for
  op names outside the vocabulary and one bucket for ``unknown:<op>`` nodes, so
  nothing is dropped and nothing collides with a known op;
* the numeric features of :data:`NODE_FEATURES`, one row each: log-scaled FLOPs,
  MACs, params, bytes read / written; kernel height/width, stride, groups (log),
  dilation, depthwise flag; output / input tensor stats (log numel, rank, log
  channels, log spatial size); dtype flags and a quantized flag; log in/out degree.

Graph-level features (``graph_attr``, :data:`GRAPH_DIM` columns): log totals of
MACs, FLOPs, params, bytes read / written, log node and edge counts.

``op_col`` holds each node's one-hot column (the first :data:`N_OP_COLS` columns of ``x`` are
exactly one-hot), so a model can gather instead of multiply (:meth:`PerfSAGE.encode`); it is
not called ``*_index``, which PyG would shift when batching.

``edge_index`` follows the graph's edges (real data flow). ``node_names`` keeps the
IR node names so per-node contributions can be reported as a per-layer breakdown.

How it runs: one pass over each document's node dicts gathers the raw per-node
quantities (:data:`RAW_COLUMNS`) into flat lists; everything else (tensor stats,
the feature table, degrees, graph totals) is numpy over all nodes of all graphs of
a batch at once. To add a feature, add a row to :data:`NODE_FEATURES` (and, if it
needs a quantity not gathered yet, a raw column), then bump the schema version.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any, NamedTuple

import numpy as np
import torch
from torch_geometric.data import Data

from predictor.graph.ir import Graph, IRError, TensorInfo, json_safe

FEATURE_SCHEMA_VERSION = 2
#: Schema versions whose features are a prefix of the current ones (a checkpoint of such a
#: version reads the first ``in_channels`` columns and runs unchanged).
COMPATIBLE_SCHEMA_VERSIONS = frozenset({1, 2})

#: Op types with a dedicated one-hot column: the canonical vocabulary of
#: predictor.graph.ops at schema version 1, frozen here so that a checkpoint's
#: features never change under it. Ops added to the vocabulary later fall into
#: the hashed buckets until the schema version is bumped.
OP_VOCAB: tuple[str, ...] = (
    "abs", "add", "argmax", "argmin", "avgpool", "batchnorm", "call", "cast", "ceil", "clip",
    "compare", "concat", "constant_of_shape", "conv", "conv_transpose", "cos", "cumsum",
    "depth_to_space", "dequantize", "div", "dwconv", "einsum", "elu", "erf", "exp", "expand", "fc",
    "flatten", "floor", "gather", "gather_nd", "gelu", "global_avgpool", "global_maxpool", "groupnorm",
    "gru", "hardsigmoid", "hardswish", "identity", "if", "instancenorm", "l2norm", "layernorm",
    "leaky_relu", "log", "log_softmax", "logical", "loop", "lrn", "lstm", "matmul", "max", "maxpool",
    "mean", "min", "mish", "mod", "mul", "neg", "nms", "nonzero", "pack", "pad", "pow", "prelu",
    "quantize", "range", "reciprocal", "reduce_l2", "reduce_max", "reduce_mean", "reduce_min",
    "reduce_prod", "reduce_sum", "relu", "relu6", "reshape", "resize", "rmsnorm", "rnn", "round",
    "rsqrt", "scan", "scatter", "selu", "shape", "sigmoid", "sign", "silu", "sin", "slice", "softmax",
    "softplus", "softsign", "space_to_depth", "split", "sqrt", "square", "squared_difference",
    "squeeze", "sub", "tanh", "tile", "topk", "transpose", "unpack", "unsqueeze", "where",
)

#: Other spellings of the same operator (IR documents written by hand or by
#: older tools) -> the vocabulary name.
OP_ALIASES: dict[str, str] = {
    "conv2d": "conv", "conv1d": "conv", "depthwise_conv": "dwconv", "depthwise_conv2d": "dwconv",
    "convtranspose": "conv_transpose", "gemm": "fc", "linear": "fc", "dense": "fc",
    "fully_connected": "fc", "batch_matmul": "matmul", "batch_norm": "batchnorm",
    "layer_norm": "layernorm", "instance_norm": "instancenorm", "group_norm": "groupnorm",
    "max_pool": "maxpool", "avg_pool": "avgpool", "global_avg_pool": "global_avgpool",
    "global_max_pool": "global_maxpool", "swish": "silu", "logistic": "sigmoid",
    "hard_swish": "hardswish", "dropout": "identity", "concatenation": "concat",
}

N_HASH_BUCKETS = 8
_OP_INDEX = {op: i for i, op in enumerate(OP_VOCAB)}
_HASH_BASE = len(OP_VOCAB)
_UNKNOWN_COL = _HASH_BASE + N_HASH_BUCKETS
N_OP_COLS = _UNKNOWN_COL + 1

_LOG_SCALE = 1.0 / 10.0  # log1p(1e9) ~ 20.7 -> ~2

#: Attribute names read for each conv-like quantity, first found wins.
KERNEL_KEYS = ("kernel_shape", "kernel_size", "kernel", "filter_size")
STRIDE_KEYS = ("strides", "stride", "stride_h")
GROUP_KEYS = ("group", "groups")
DILATION_KEYS = ("dilations", "dilation", "dilation_h_factor")
_CONV_KEYS = frozenset(KERNEL_KEYS + STRIDE_KEYS + GROUP_KEYS + DILATION_KEYS)
#: the ops whose first weight, where 4-d, is an OIHW kernel (read when no attribute names the kernel). Any
#: other op's 4-d constant is an operand: a TFLite batch norm left as MUL by [1, 1, 1, C] read as a
#: "1 x C kernel" made DenseNet-121's 1x1 convs and MULs look like nothing trained on (predicted 5x slow)
_WEIGHT_KERNEL_OPS = ("conv", "dwconv", "conv_transpose")

#: dtype name -> flag column: 0 float32, 1 float16/bfloat16, 2 int8/uint8, 3 other.
_DTYPE_CLASS = {"float32": 0, "float16": 1, "bfloat16": 1, "int8": 2, "uint8": 2}

#: The raw per-node quantities gathered from the IR (float64 arrays, one value per node).
#: Tensor stats (numel, rank, channels, spatial) are zero when the shape is unknown;
#: channels are dim 1 for NCHW tensors and the last dim for NHWC (TFLite) ones.
RAW_COLUMNS: tuple[str, ...] = (
    "flops", "macs", "params", "bytes_read", "bytes_written",
    "kernel_h", "kernel_w", "stride", "groups", "dilation", "dwconv",
    "out_numel", "out_rank", "out_channels", "out_spatial",
    "in_numel", "in_rank", "in_channels", "in_spatial", "n_inputs",
    "dtype_class", "quantized", "in_degree", "out_degree", "param_bytes", "peak_live",
)
#: bytes per element of each dtype class (0 float32, 1 float16, 2 int8, 3 other: counted as 4)
_CLASS_BYTES = np.array([4.0, 2.0, 1.0, 4.0])
Raw = Mapping[str, np.ndarray]


def _log(v: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(v, 0.0)) * _LOG_SCALE


def _depthwise(r: Raw) -> np.ndarray:
    # schema v1: op "dwconv", or groups equal to the input channels as read back from the feature
    in_channels = np.round(np.expm1(_log(r["in_channels"]) / _LOG_SCALE))
    return (r["dwconv"] > 0) | ((r["groups"] > 1) & (in_channels == r["groups"]))


#: The numeric node features, in column order after the op one-hot: name and formula
#: over the raw columns (vectorised over all nodes of a batch).
NODE_FEATURES: tuple[tuple[str, Callable[[Raw], np.ndarray]], ...] = (
    ("log_flops", lambda r: _log(r["flops"])),
    ("log_macs", lambda r: _log(r["macs"])),
    ("log_params", lambda r: _log(r["params"])),
    ("log_bytes_read", lambda r: _log(r["bytes_read"])),
    ("log_bytes_written", lambda r: _log(r["bytes_written"])),
    ("kernel_h", lambda r: r["kernel_h"] / 7.0),
    ("kernel_w", lambda r: r["kernel_w"] / 7.0),
    ("stride", lambda r: r["stride"] / 2.0),
    ("log_groups", lambda r: _log(r["groups"])),
    ("dilation", lambda r: r["dilation"] / 2.0),
    ("depthwise", _depthwise),
    ("out_log_numel", lambda r: _log(r["out_numel"])),
    ("out_rank", lambda r: r["out_rank"] / 4.0),
    ("out_log_channels", lambda r: _log(r["out_channels"])),
    ("out_log_spatial", lambda r: _log(r["out_spatial"])),
    ("in_log_numel", lambda r: _log(r["in_numel"])),
    ("in_log_channels", lambda r: _log(r["in_channels"])),
    ("n_inputs", lambda r: r["n_inputs"] / 4.0),
    ("dtype_f32", lambda r: r["dtype_class"] == 0),
    ("dtype_f16", lambda r: r["dtype_class"] == 1),
    ("dtype_int8", lambda r: r["dtype_class"] == 2),
    ("dtype_other", lambda r: r["dtype_class"] == 3),
    ("quantized", lambda r: r["quantized"]),
    ("log_in_degree", lambda r: _log(r["in_degree"])),
    ("log_out_degree", lambda r: _log(r["out_degree"])),
    # schema v2 (appended: the first NODE_DIM_V1 columns are exactly schema v1's)
    ("log_param_bytes", lambda r: _log(r["param_bytes"])),
    ("log_peak_live", lambda r: _log(r["peak_live"])),
)
NUMERIC_FEATURES: tuple[str, ...] = tuple(name for name, _ in NODE_FEATURES)
NODE_DIM = N_OP_COLS + len(NUMERIC_FEATURES)
#: Schema v1's width: a model trained on v1 features reads only these leading columns.
NODE_DIM_V1 = NODE_DIM - 2
#: The columns a memory roofline reads: weight bytes and the peak of live activation bytes.
MEMORY_COLUMNS: tuple[int, ...] = tuple(
    N_OP_COLS + NUMERIC_FEATURES.index(n) for n in ("log_param_bytes", "log_peak_live"))
#: What a model's kernel-kind scales read (``PerfSAGE(kernel_kinds=...)``): the kernel-height and
#: depthwise columns, then the op columns of ``conv`` and ``dwconv``.
KERNEL_KIND_COLUMNS: tuple[int, ...] = (
    N_OP_COLS + NUMERIC_FEATURES.index("kernel_h"), N_OP_COLS + NUMERIC_FEATURES.index("depthwise"),
    _OP_INDEX["conv"], _OP_INDEX["dwconv"])
#: The columns a roofline model reads its analytic floor from, and their scale back to log1p.
ROOFLINE_COLUMNS: tuple[int, ...] = tuple(
    N_OP_COLS + NUMERIC_FEATURES.index(n) for n in ("log_flops", "log_bytes_read", "log_bytes_written"))
ROOFLINE_SCALE = 1.0 / _LOG_SCALE

#: Graph-level features: log of a per-graph sum of a raw column (or a count).
GRAPH_FEATURES: tuple[str, ...] = (
    "log_macs", "log_flops", "log_params", "log_bytes_read", "log_bytes_written",
    "log_nodes", "log_edges",
)
_GRAPH_SUMS = ("macs", "flops", "params", "bytes_read", "bytes_written")
GRAPH_DIM = len(GRAPH_FEATURES)


def op_column(op: str) -> int:
    """The one-hot column of a canonical op name (aliases folded).

    ``unknown:<x>`` -> the unknown column; names outside :data:`OP_VOCAB` -> one
    of :data:`N_HASH_BUCKETS` stable hash buckets."""
    if op.startswith("unknown:") or op == "unknown":
        return _UNKNOWN_COL
    key = op.strip().lower()
    key = OP_ALIASES.get(key, key)
    idx = _OP_INDEX.get(key)
    if idx is not None:
        return idx
    return _HASH_BASE + zlib.crc32(key.encode()) % N_HASH_BUCKETS


_OP_CODES: dict[str, int] = {}  # op name -> 2 * column + (op == "dwconv"); bounded below
_WEIGHT_KERNEL_COLS = frozenset(op_column(o) for o in _WEIGHT_KERNEL_OPS)  # aliases (" Conv2D ") included


def _op_code(op: str) -> int:
    code = 2 * op_column(op) + (op == "dwconv")
    if len(_OP_CODES) < 4096:  # op names come from clients: keep the memo small
        _OP_CODES[op] = code
    return code


# -- gathering: one pass over a document's node dicts -------------------------------------
class _Doc:
    """The raw lists of one IR document (before numpy), as ``Graph.from_dict`` would read them."""

    __slots__ = ("n", "names", "ops", "unresolved", "codes", "ints", "attrs", "nhwc", "lens", "dims", "counts",
                 "edges")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.ops: list[str] = []
        self.unresolved: set[str] = set()  # names of the node tensors with unresolved shapes (scan only)
        self.codes: list[int] = []  # op codes (see _op_code)
        self.ints: list[Any] = []  # 5 cost fields per node, as stored (converted like int())
        self.attrs: list[int] = []  # kernel_h, kernel_w, stride, groups, dilation per node
        self.nhwc: list[bool] = []
        self.lens: list[int] = []  # rank of inputs[0], outputs[0] per node (-1: no shape)
        self.dims: list[Any] = []  # their dims, flat
        self.counts: list[int] = []  # n_inputs, dtype class, quantized per node
        self.edges = np.zeros((0, 2), dtype=np.int64)


def _first_ints(attrs: Mapping[str, Any], keys: Sequence[str]) -> list[int] | None:
    """The first of ``keys`` holding a number or a list with numbers, as ints; None if none does."""
    for k in keys:
        v = attrs.get(k)
        if v is None:
            continue
        if type(v) is list:
            vals = [x for x in v if type(x) is int]
            if len(vals) != len(v):
                vals = _schema_ints(v)
        elif type(v) is int:
            return [v]
        else:
            vals = _schema_ints(v)
        if vals:
            return vals
    return None


def _schema_ints(value: Any) -> list[int] | None:
    """Schema v1's reading of an attribute value as ints, the value taken as ``Graph.from_dict``
    stores it (``json_safe``: non-finite floats absent, numpy values plain)."""
    v = json_safe(value, 1)
    if isinstance(v, (list, tuple)):
        return [int(x) for x in v if isinstance(x, (int, float))]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return [int(v)]
    return None


def _conv_attrs(attrs: Mapping[str, Any]) -> tuple[list[int] | None, int, int, int]:
    """(kernel or None, stride, groups, dilation) of a node's attributes."""
    get = attrs.get
    kernel, strides, dilations, group = get("kernel_shape"), get("strides"), get("dilations"), get("group")
    if group is None:
        group = get("groups", 1)
    if dilations is None and "dilation" not in attrs and "dilation_h_factor" not in attrs:
        dilations = [1, 1]  # no dilation attribute at all (pools)
    if _int_pair(kernel) and _int_pair(strides) and _int_pair(dilations) and type(group) is int:
        return kernel, max(strides), group, max(dilations)  # the usual conv or pool: plain ints, no search
    return (
        _first_ints(attrs, KERNEL_KEYS),
        max(_first_ints(attrs, STRIDE_KEYS) or (1,)),
        (_first_ints(attrs, GROUP_KEYS) or (1,))[0],
        max(_first_ints(attrs, DILATION_KEYS) or (1,)),
    )


def _int_pair(v: Any) -> bool:
    return type(v) is list and len(v) == 2 and type(v[0]) is int and type(v[1]) is int


def _gather(doc: Any, max_nodes: int | None, scan: bool = False) -> _Doc:
    """Read one IR document's nodes and edges; raises what ``Graph.from_dict`` would raise
    (wrapped into ``IRError`` by the caller) for what featurisation reads. ``scan``: also note
    the tensors with unresolved shapes (``_Doc.unresolved``)."""
    if not isinstance(doc, dict):
        raise TypeError("IR document must be a JSON object")
    nodes = doc.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ValueError("IR document needs a non-empty 'nodes' list")
    if max_nodes is not None and len(nodes) > max_nodes:
        raise IRError("too_large", f"IR has {len(nodes)} nodes; the limit is {max_nodes}")
    for t in chain(doc.get("inputs") or (), doc.get("outputs") or ()):
        TensorInfo.from_dict(t)
    dict(doc.get("meta") or {})

    g = _Doc()
    g.n = len(nodes)
    names, ops, codes, op_codes = g.names, g.ops, g.codes, _OP_CODES
    ints, attrs_out, nhwc_out = g.ints, g.attrs, g.nhwc
    lens, dims, counts, unresolved = g.lens, g.dims, g.counts, g.unresolved
    for nd in nodes:
        get = nd.get
        op = nd["op"]
        if type(op) is not str:
            op = str(op)
        ops.append(op)
        code = op_codes.get(op)
        codes.append(_op_code(op) if code is None else code)
        name = get("name", "")
        names.append(name if type(name) is str else str(name))
        ints += (get("flops", 0), get("macs", 0), get("params", 0), get("bytes_read", 0), get("bytes_written", 0))

        kernel, stride, groups, dilation, nhwc = None, 1, 1, 1, False
        a = get("attrs")
        if a:
            if type(a) is not dict:
                a = dict(a)
            layout = a.get("layout")
            nhwc = (layout if type(layout) is str else json_safe(layout, 1)) == "NHWC"
            if not _CONV_KEYS.isdisjoint(a):
                kernel, stride, groups, dilation = _conv_attrs(a)
        if kernel is None or kernel == [0]:
            kernel = [0]
            ws = get("weights") if codes[-1] >> 1 in _WEIGHT_KERNEL_COLS else None
            if ws:  # ONNX-style OIHW weights: the kernel when no attribute names it
                s = ws[0].get("shape")
                if s and len(s) == 4:
                    kernel = [max(int(s[2]), 0), max(int(s[3]), 0)]
        if len(kernel) == 1:
            kernel = [kernel[0], kernel[0]]
        attrs_out += (kernel[0], kernel[1], stride, groups, dilation)
        nhwc_out.append(nhwc)

        ins = get("inputs") or ()
        outs = get("outputs") or ()
        for t in (ins[0] if ins else None, outs[0] if outs else None):
            s = None if t is None else t.get("shape")
            if s is None:
                lens.append(-1)
            else:
                lens.append(len(s))
                dims += s
        t = outs[0] if outs else (ins[0] if ins else None)
        dtype = "float32" if t is None else t.get("dtype", "float32")
        quantized = False
        if not scan:
            for t in ins:
                if t.get("quantized"):
                    quantized = True
            for t in outs:
                if t.get("quantized"):
                    quantized = True
        else:  # every tensor's shape too (about a third more time per document)
            for t in (*ins, *outs):
                tget = t.get
                if tget("quantized"):
                    quantized = True
                s = tget("shape")
                if s:
                    try:
                        if min(s) >= 0:
                            continue
                    except TypeError:  # dims stored as text: read as Graph.from_dict reads them
                        if _resolved(s):
                            continue
                elif s is not None:
                    continue  # a scalar
                unresolved.add(str(tget("name", "")))
        counts += (len(ins), _DTYPE_CLASS.get(dtype if type(dtype) is str else str(dtype), 3), quantized)
    g.edges = _edges(doc.get("edges") or (), g.n)
    return g


def _resolved(shape: Any) -> bool:
    """``TensorInfo.resolved`` of a document's non-empty shape, dims read like ``int()``."""
    return min(int(d) for d in shape) >= 0


# -- numpy ---------------------------------------------------------------------------------
def _int_column(parts: Sequence[Sequence[Any]]) -> np.ndarray:
    """The values of ``parts`` (one list per document) as one float64 array, each read like
    ``int(v)`` as ``Graph.from_dict`` reads it ("3" -> 3, 2.7 -> 2, None -> TypeError)."""
    try:
        return _int64(parts).astype(np.float64)
    except (TypeError, OverflowError):
        return np.array([int(v) for v in chain.from_iterable(parts)], dtype=np.float64)


def _edges(raw: Any, n: int) -> np.ndarray:
    """``[E, 2]`` int64 edges of one document, read and checked like ``Graph.from_dict`` does."""
    try:
        if set(map(len, raw)) - {2}:
            raise ValueError("not all pairs")
        edges = np.frombuffer(array("q", chain.from_iterable(raw)), dtype=np.int64).reshape(-1, 2)
    except (TypeError, ValueError, OverflowError):
        edges = np.array([(int(e[0]), int(e[1])) for e in raw], dtype=np.int64).reshape(-1, 2)
    bad = (edges < 0).any(1) | (edges >= n).any(1) | (edges[:, 0] == edges[:, 1])
    if bad.any():
        e = list(raw)[int(np.argmax(bad))]
        raise ValueError(f"edge {e!r} does not join two distinct nodes of the graph")
    return edges


def _tensor_stats(lens: np.ndarray, dims: np.ndarray, nhwc: np.ndarray) -> tuple[np.ndarray, ...]:
    """(numel, rank, channels, spatial) of tensors given by their ranks (-1: unknown shape)
    and their dims, flat; zeros for unknown shapes. Linear in the number of dims."""
    known = lens >= 0
    rank = np.maximum(lens, 0)
    starts = np.cumsum(rank) - rank
    has = rank > 0
    dims = np.maximum(dims, 0.0)
    channel_pos = (starts + np.where((rank >= 3) & ~nhwc, 1, rank - 1))[has]
    channels, numel, spatial = np.ones(len(lens)), np.ones(len(lens)), np.ones(len(lens))
    channels[has] = dims[channel_pos]
    numel[has] = _segment_product(dims, starts[has])
    wide = rank[has] >= 3  # spatial: dims[2:] (NCHW) or dims[1:-1] (NHWC)
    inner = dims.copy()
    inner[starts[has][wide]] = 1.0
    inner[channel_pos[wide]] = 1.0
    spatial[has] = np.where(wide, _segment_product(inner, starts[has]), 1.0)
    if not (np.isfinite(numel).all() and np.isfinite(spatial).all()):
        raise OverflowError("a tensor shape has more elements than a float can count")
    return (
        np.where(known, numel, 0.0),
        rank.astype(np.float64),
        np.where(known, channels, 0.0),
        np.where(known, spatial, 0.0),
    )


def _segment_product(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Products of the non-empty segments of ``values`` beginning at ``starts``; 0 for a
    segment holding a zero (never inf * 0 = nan)."""
    if not starts.size:
        return np.zeros(0)
    with np.errstate(over="ignore", invalid="ignore"):
        prod = np.multiply.reduceat(values, starts)
    return np.where(np.minimum.reduceat(values, starts) == 0, 0.0, prod)


def _int64(parts: Iterable[list[Any]]) -> np.ndarray:
    """The Python ints (or bools) of many lists as one int64 array; TypeError for any
    other value, OverflowError past int64."""
    out = array("q")
    for part in parts:
        out.fromlist(part)
    return np.frombuffer(out, dtype=np.int64)


def _field(docs: Sequence[_Doc], name: str, loose: bool = False) -> np.ndarray:
    """One field of every document, concatenated: int64, or float64 with ``loose`` (values read
    like ``int()``, see :func:`_int_column`). A field is a list (gathered from a document) or a
    numpy array (decoded from the columns form, :mod:`predictor.columns`: int64, float64 for the
    loose fields)."""
    parts = [getattr(g, name) for g in docs]
    if not any(isinstance(p, np.ndarray) for p in parts):
        return _int_column(parts) if loose else _int64(parts)
    arrays = [p if isinstance(p, np.ndarray) else (_int_column([p]) if loose else _int64([p])) for p in parts]
    out = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    return out.astype(np.float64) if loose else out.astype(np.int64, copy=False)


def _peak_live(out_bytes: np.ndarray, edges: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per node: the graph's peak of live activation bytes on the node where it occurs, else 0.

    Nodes run in document order (front ends write a topological order); a node's first output
    is live from the node until its last consumer (to the graph's end when nothing consumes it:
    a graph output). The live set at a node holds its inputs and its output, so the peak is the
    activation memory a runtime that frees tensors after their last use needs at least."""
    total, starts, sizes = len(out_bytes), offsets[:-1], np.diff(offsets)  # every graph has nodes
    if not total:
        return np.zeros(0)
    index = np.arange(total)
    last = np.repeat(offsets[1:] - 1, sizes)  # no consumer: live to the graph's end
    if len(edges):
        consumed = np.full(total, -1)
        np.maximum.at(consumed, edges[:, 0], edges[:, 1])
        last = np.where(consumed >= 0, consumed, last)
    diff = np.zeros(total + 1)
    diff[:total] += out_bytes
    freed = np.maximum(last, index) + 1  # where a tensor's bytes leave the running sum
    if np.abs(out_bytes).sum() < 2.0**53:  # whole numbers, every sum exact: one running sum for all graphs
        np.add.at(diff, freed, -out_bytes)
        live = np.cumsum(diff)[:total]
    else:  # sums this big round: each graph's running sum on its own, or one graph's bytes shift the next's
        inside = freed < np.repeat(offsets[1:], sizes)
        np.add.at(diff, freed[inside], -out_bytes[inside])
        live = np.concatenate([np.cumsum(diff[a:b]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)])
    peak = np.maximum.reduceat(live, starts)
    first = np.minimum.reduceat(np.where(live >= np.repeat(peak, sizes) - 1e-6, index, total), starts)
    out = np.zeros(total)
    out[first] = np.maximum(peak, 0.0)
    return out


def _featurize_docs(docs: Sequence[_Doc]) -> list[Data]:
    """Features of gathered documents, all nodes at once."""
    sizes = np.array([g.n for g in docs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    total = int(offsets[-1])
    n_edges = np.array([len(g.edges) for g in docs], dtype=np.int64)
    all_edges = np.concatenate([g.edges for g in docs]) + np.repeat(offsets[:-1], n_edges)[:, None]

    codes = _field(docs, "codes")
    ints = _field(docs, "ints", loose=True).reshape(total, 5)
    attrs = _field(docs, "attrs", loose=True).reshape(total, 5)
    counts = _field(docs, "counts").reshape(total, 3).astype(np.float64)
    nhwc = _field(docs, "nhwc").astype(bool)
    lens = _field(docs, "lens")
    dims = _field(docs, "dims", loose=True)
    i_numel, i_rank, i_ch, i_sp = _tensor_stats(lens, dims, np.repeat(nhwc, 2))
    raw: dict[str, np.ndarray] = {
        "flops": ints[:, 0], "macs": ints[:, 1], "params": ints[:, 2],
        "bytes_read": ints[:, 3], "bytes_written": ints[:, 4],
        "kernel_h": attrs[:, 0], "kernel_w": attrs[:, 1], "stride": attrs[:, 2],
        "groups": attrs[:, 3], "dilation": attrs[:, 4], "dwconv": (codes & 1).astype(np.float64),
        "in_numel": i_numel[0::2], "in_rank": i_rank[0::2], "in_channels": i_ch[0::2], "in_spatial": i_sp[0::2],
        "out_numel": i_numel[1::2], "out_rank": i_rank[1::2], "out_channels": i_ch[1::2],
        "out_spatial": i_sp[1::2],
        "n_inputs": counts[:, 0], "dtype_class": counts[:, 1], "quantized": counts[:, 2],
        "in_degree": np.bincount(all_edges[:, 1], minlength=total).astype(np.float64),
        "out_degree": np.bincount(all_edges[:, 0], minlength=total).astype(np.float64),
    }
    elem = _CLASS_BYTES[np.clip(counts[:, 1].astype(np.int64), 0, 3)]
    raw["param_bytes"] = raw["params"] * elem
    raw["peak_live"] = _peak_live(raw["out_numel"] * elem, all_edges, offsets)
    x = np.zeros((total, NODE_DIM), dtype=np.float32)
    x.reshape(-1)[np.arange(total) * NODE_DIM + (codes >> 1)] = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        for j, (_, formula) in enumerate(NODE_FEATURES):
            x[:, N_OP_COLS + j] = formula(raw)
    if not np.isfinite(x).all():
        raise OverflowError("a node value is too large to featurise")

    sums = np.add.reduceat(np.stack([raw[k] for k in _GRAPH_SUMS], 1), offsets[:-1], axis=0)
    graph_attr = _log(np.column_stack([sums, sizes, n_edges])).astype(np.float32)
    xt, gt, bounds = torch.from_numpy(x), torch.from_numpy(graph_attr), offsets.tolist()
    cols = torch.from_numpy(codes >> 1)
    out = []
    for i, g in enumerate(docs):
        data = Data(
            x=xt[bounds[i] : bounds[i + 1]],
            edge_index=torch.from_numpy(np.ascontiguousarray(g.edges.T)),
            graph_attr=gt[i : i + 1],
            op_col=cols[bounds[i] : bounds[i + 1]],
            num_nodes=g.n,
        )
        data.node_names = g.names
        out.append(data)
    return out


# -- public API ----------------------------------------------------------------------------
def _invalid(exc: Exception) -> IRError:
    if isinstance(exc, IRError):
        return exc
    if isinstance(exc, OverflowError):
        return IRError("invalid_ir", f"the IR document cannot be featurised: {exc}")
    return IRError("invalid_ir", f"malformed IR document: {exc}")


_DOC_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError, IRError)


class DocScan(NamedTuple):
    """What one pass over a document's nodes notes besides features (the service's warnings)."""

    ops: list[str]  # op of every node, as text
    unresolved: set[str]  # names of node input/output tensors whose shapes are unresolved


def featurize_many(
    graphs: Sequence[Graph | Mapping[str, Any]], *, max_nodes: int | None = 200_000
) -> list[Data | IRError]:
    """Featurise a batch: one ``Data`` per graph or IR document, or the ``IRError`` that
    item raised (``invalid_ir`` for a malformed document or a graph without nodes,
    ``too_large`` past ``max_nodes``); one bad item never fails the others.

    A document is validated as far as featurisation reads it, with ``Graph.from_dict``'s
    rules (node list, op, costs, attributes, input/output/first weight shapes, dtypes,
    edges); ``max_nodes`` applies to documents only."""
    return [item if isinstance(item, IRError) else item[0]
            for item in _featurize(graphs, max_nodes, scan=False)]


def featurize_scanned(
    graphs: Sequence[Graph | Mapping[str, Any]], *, max_nodes: int | None = 200_000
) -> list[tuple[Data, DocScan] | IRError]:
    """:func:`featurize_many` with each good item's :class:`DocScan`."""
    return _featurize(graphs, max_nodes, scan=True)


def _featurize(
    graphs: Sequence[Graph | Mapping[str, Any]], max_nodes: int | None, scan: bool
) -> list[tuple[Data, DocScan] | IRError]:
    gathered: list[_Doc | IRError] = []
    for item in graphs:
        try:
            if isinstance(item, _Doc):  # already gathered (the columns form, predictor.columns)
                gathered.append(item)
            elif isinstance(item, Graph):
                gathered.append(_gather(item.to_dict(), None, scan))
            else:
                gathered.append(_gather(item, max_nodes, scan))
        except _DOC_ERRORS as exc:
            gathered.append(_invalid(exc))
    good = [g for g in gathered if isinstance(g, _Doc)]
    try:
        feats = iter(_featurize_docs(good) if good else [])
    except _DOC_ERRORS:  # some item is malformed in a way only numpy notices: find it alone
        feats = iter([_featurize_one(g) for g in good])
    out: list[tuple[Data, DocScan] | IRError] = []
    for g in gathered:
        if isinstance(g, _Doc):
            data = next(feats)
            out.append(data if isinstance(data, IRError) else (data, DocScan(g.ops, g.unresolved)))
        else:
            out.append(g)
    return out


def _featurize_one(doc: _Doc) -> Data | IRError:
    try:
        return _featurize_docs([doc])[0]
    except _DOC_ERRORS as exc:
        return _invalid(exc)


def featurize(graph: Graph | Mapping[str, Any], *, max_nodes: int | None = 200_000) -> Data:
    """Turn an IR graph or IR document into a PyG ``Data`` (x, edge_index, graph_attr,
    node_names).

    Raises :class:`IRError` (``invalid_ir``) for a graph without nodes, an edge that does
    not join two distinct nodes, or a malformed document (``too_large`` past ``max_nodes``)."""
    [out] = featurize_many([graph], max_nodes=max_nodes)
    if isinstance(out, IRError):
        raise out
    return out


_KIND_COLS = tuple(N_OP_COLS + NUMERIC_FEATURES.index(c) for c in ("kernel_h", "kernel_w", "stride"))
_KIND_SCALES = np.array([7.0, 7.0, 2.0])


def node_kinds(data: Data) -> np.ndarray:
    """``int64 [N]``: each node's kind, its op column with its kernel height, kernel width and
    stride (each clipped to 0..99), as one code: what :func:`describe_kind` reads back. The
    service warns about a graph whose nodes are of kinds no training graph had (an 11x11 stride-4
    convolution where training only saw 3x3 and 5x5 ones)."""
    x = data.x.numpy()
    op = data.op_col.numpy() if getattr(data, "op_col", None) is not None else x[:, :N_OP_COLS].argmax(1)
    geometry = np.clip(np.rint(x[:, list(_KIND_COLS)] * _KIND_SCALES), 0, 99).astype(np.int64)
    return op.astype(np.int64) * 1_000_000 + geometry[:, 0] * 10_000 + geometry[:, 1] * 100 + geometry[:, 2]


def describe_kind(code: int, op: str) -> str:
    """A node kind (:func:`node_kinds`) as text, e.g. ``conv 11x11/4`` (``op``: the node's op name)."""
    kh, kw, stride = (code // 10_000) % 100, (code // 100) % 100, code % 100
    return f"{op} {kh}x{kw}/{stride}" if kh or kw else op


def op_histogram_vector(graph: Graph) -> np.ndarray:
    """Counts of each one-hot op column (for graph-level baselines)."""
    return np.bincount([op_column(nd.op) for nd in graph.nodes], minlength=N_OP_COLS).astype(np.float32)
