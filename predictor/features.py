"""IR graph -> ``torch_geometric.data.Data``: the ONE featurisation path.

Training, evaluation, baselines and the service all call :func:`featurize`; a
checkpoint records :data:`FEATURE_SCHEMA_VERSION` and refuses to run on features
of another version.

Node features (``x``, float32, :data:`NODE_DIM` columns):

* one-hot op type over :data:`OP_VOCAB` (aliases folded), plus hashed buckets for
  op names outside the vocabulary and one bucket for ``unknown:<op>`` nodes, so
  nothing is dropped and nothing collides with a known op;
* log-scaled FLOPs, MACs, params, bytes read / written;
* kernel height/width, stride, groups (log), dilation, depthwise flag;
* output / input tensor stats: log numel, rank, log channels, log spatial size;
* dtype flags (float32, float16, int8/uint8, other) and a quantized flag;
* log in/out degree.

Graph-level features (``graph_attr``, :data:`GRAPH_DIM` columns): log totals of
MACs, FLOPs, params, bytes read / written, log node and edge counts.

``edge_index`` follows ``Graph.edges`` (real data flow). ``node_names`` keeps the
IR node names so per-node contributions can be reported as a per-layer breakdown.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data

from predictor.graph.ir import Graph, IRError, Node, TensorInfo

FEATURE_SCHEMA_VERSION = 1

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

NUMERIC_FEATURES: tuple[str, ...] = (
    "log_flops", "log_macs", "log_params", "log_bytes_read", "log_bytes_written",
    "kernel_h", "kernel_w", "stride", "log_groups", "dilation", "depthwise",
    "out_log_numel", "out_rank", "out_log_channels", "out_log_spatial",
    "in_log_numel", "in_log_channels", "n_inputs",
    "dtype_f32", "dtype_f16", "dtype_int8", "dtype_other", "quantized",
    "log_in_degree", "log_out_degree",
)
NODE_DIM = N_OP_COLS + len(NUMERIC_FEATURES)

GRAPH_FEATURES: tuple[str, ...] = (
    "log_macs", "log_flops", "log_params", "log_bytes_read", "log_bytes_written",
    "log_nodes", "log_edges",
)
GRAPH_DIM = len(GRAPH_FEATURES)

_LOG_SCALE = 1.0 / 10.0  # log1p(1e9) ~ 20.7 -> ~2


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


def _log(v: float) -> float:
    return math.log1p(max(float(v), 0.0)) * _LOG_SCALE


def _first_int(attrs: dict[str, Any], keys: Sequence[str], default: int) -> list[int]:
    for k in keys:
        v = attrs.get(k)
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            vals = [int(x) for x in v if isinstance(x, (int, float))]
            if vals:
                return vals
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            return [int(v)]
    return [default]


def _tensor_stats(t: TensorInfo | None, nhwc: bool) -> tuple[float, float, float, float]:
    """(log numel, rank, log channels, log spatial) of a tensor; zeros if unknown.

    Channels are dim 1 for NCHW tensors and the last dim for NHWC (TFLite) ones."""
    if t is None or t.shape is None:
        return 0.0, 0.0, 0.0, 0.0
    shape = [max(d, 0) for d in t.shape]
    rank = len(shape)
    numel = float(math.prod(shape)) if shape else 1.0
    if rank >= 3:
        channels = shape[-1] if nhwc else shape[1]
        spatial = float(math.prod(shape[1:-1] if nhwc else shape[2:]))
    else:
        channels, spatial = (shape[-1] if rank else 1), 1.0
    return _log(numel), rank / 4.0, _log(channels), _log(spatial)


def _dtype_flags(node: Node) -> tuple[float, float, float, float, float]:
    t = node.outputs[0] if node.outputs else (node.inputs[0] if node.inputs else None)
    dtype = t.dtype if t is not None else "float32"
    quant = any(x.quantized for x in (*node.inputs, *node.outputs))
    return (
        float(dtype == "float32"),
        float(dtype in ("float16", "bfloat16")),
        float(dtype in ("int8", "uint8")),
        float(dtype not in ("float32", "float16", "bfloat16", "int8", "uint8")),
        float(quant),
    )


def _kernel(node: Node) -> list[int]:
    k = _first_int(node.attrs, ("kernel_shape", "kernel_size", "kernel", "filter_size"), 0)
    if k == [0] and node.weights and node.weights[0].shape and len(node.weights[0].shape) == 4:
        # ONNX-style OIHW weights; fall back when the front end gave no kernel attribute.
        k = [max(node.weights[0].shape[2], 0), max(node.weights[0].shape[3], 0)]
    if len(k) == 1:
        k = [k[0], k[0]]
    return k[:2]


def node_numeric(node: Node, in_deg: int, out_deg: int) -> list[float]:
    """The numeric (non one-hot) features of one node, ordered as NUMERIC_FEATURES."""
    a = node.attrs
    kh, kw = _kernel(node)
    stride = max(_first_int(a, ("strides", "stride", "stride_h"), 1))
    groups = _first_int(a, ("group", "groups"), 1)[0]
    dilation = max(_first_int(a, ("dilations", "dilation", "dilation_h_factor"), 1))
    out = node.outputs[0] if node.outputs else None
    inp = node.inputs[0] if node.inputs else None
    nhwc = a.get("layout") == "NHWC"
    o_numel, o_rank, o_ch, o_sp = _tensor_stats(out, nhwc)
    i_numel, _, i_ch, _ = _tensor_stats(inp, nhwc)
    depthwise = float(node.op == "dwconv" or (groups > 1 and round(math.expm1(i_ch / _LOG_SCALE)) == groups))
    return [
        _log(node.flops), _log(node.macs), _log(node.params),
        _log(node.bytes_read), _log(node.bytes_written),
        kh / 7.0, kw / 7.0, stride / 2.0, _log(groups), dilation / 2.0, depthwise,
        o_numel, o_rank, o_ch, o_sp, i_numel, i_ch, len(node.inputs) / 4.0,
        *_dtype_flags(node),
        _log(in_deg), _log(out_deg),
    ]


def graph_features(graph: Graph) -> list[float]:
    """Graph-level features, ordered as GRAPH_FEATURES."""
    nodes = graph.nodes
    return [
        _log(sum(n.macs for n in nodes)), _log(sum(n.flops for n in nodes)),
        _log(sum(n.params for n in nodes)), _log(sum(n.bytes_read for n in nodes)),
        _log(sum(n.bytes_written for n in nodes)), _log(len(nodes)), _log(len(graph.edges)),
    ]


def featurize(graph: Graph) -> Data:
    """Turn an IR graph into a PyG ``Data`` (x, edge_index, graph_attr, node_names).

    Raises :class:`IRError` (``invalid_ir``) for a graph without nodes or with an
    edge that points outside the node list."""
    n = len(graph.nodes)
    if n == 0:
        raise IRError("invalid_ir", "cannot featurise a graph without nodes")
    edges = np.asarray(graph.edges, dtype=np.int64).reshape(-1, 2)
    if edges.size and (edges.min() < 0 or edges.max() >= n):
        raise IRError("invalid_ir", "an edge refers to a node index outside the graph")
    in_deg = np.bincount(edges[:, 1], minlength=n) if edges.size else np.zeros(n, np.int64)
    out_deg = np.bincount(edges[:, 0], minlength=n) if edges.size else np.zeros(n, np.int64)
    x = np.zeros((n, NODE_DIM), dtype=np.float32)
    cols = [op_column(node.op) for node in graph.nodes]
    x[np.arange(n), cols] = 1.0
    x[:, N_OP_COLS:] = np.asarray(
        [node_numeric(node, int(in_deg[i]), int(out_deg[i])) for i, node in enumerate(graph.nodes)],
        dtype=np.float32,
    )
    data = Data(
        x=torch.from_numpy(x),
        edge_index=torch.from_numpy(np.ascontiguousarray(edges.T)),
        graph_attr=torch.tensor([graph_features(graph)], dtype=torch.float32),
        num_nodes=n,
    )
    data.node_names = [node.name for node in graph.nodes]
    return data


def op_histogram_vector(graph: Graph) -> np.ndarray:
    """Counts of each one-hot op column (for graph-level baselines)."""
    return np.bincount([op_column(nd.op) for nd in graph.nodes], minlength=N_OP_COLS).astype(np.float32)
