"""Feature schema v1 as first written: a per-node Python walk over ``Graph`` objects.

Kept as the test oracle for ``predictor.features`` (which gathers from IR documents and
computes with numpy): same columns, same values. It reads the v1 columns only, so a
schema bump that appends features leaves these tests meaningful for the old columns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from predictor.features import N_OP_COLS, op_column
from predictor.graph.ir import Graph, Node, TensorInfo

V1_NUMERIC = (
    "log_flops", "log_macs", "log_params", "log_bytes_read", "log_bytes_written",
    "kernel_h", "kernel_w", "stride", "log_groups", "dilation", "depthwise",
    "out_log_numel", "out_rank", "out_log_channels", "out_log_spatial",
    "in_log_numel", "in_log_channels", "n_inputs",
    "dtype_f32", "dtype_f16", "dtype_int8", "dtype_other", "quantized",
    "log_in_degree", "log_out_degree",
)
_LOG_SCALE = 0.1


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


def _dtype_flags(node: Node) -> tuple[float, ...]:
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


#: since session 16 only these ops' 4-d weights give a kernel (any other op's 4-d constant is an
#: operand, not a kernel: predictor.features._WEIGHT_KERNEL_OPS)
_KERNEL_COLS = {op_column(o) for o in ("conv", "dwconv", "conv_transpose")}


def _kernel(node: Node) -> list[int]:
    k = _first_int(node.attrs, ("kernel_shape", "kernel_size", "kernel", "filter_size"), 0)
    if (k == [0] and op_column(node.op) in _KERNEL_COLS and node.weights and node.weights[0].shape
            and len(node.weights[0].shape) == 4):
        k = [max(node.weights[0].shape[2], 0), max(node.weights[0].shape[3], 0)]
    if len(k) == 1:
        k = [k[0], k[0]]
    return k[:2]


def _node_numeric(node: Node, in_deg: int, out_deg: int) -> list[float]:
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


def reference_features(graph: Graph) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(x [N, N_OP_COLS + 25], edge_index [2, E], graph_attr [7], node_names)`` of schema v1."""
    n = len(graph.nodes)
    edges = np.asarray(graph.edges, dtype=np.int64).reshape(-1, 2)
    in_deg = np.bincount(edges[:, 1], minlength=n)
    out_deg = np.bincount(edges[:, 0], minlength=n)
    x = np.zeros((n, N_OP_COLS + len(V1_NUMERIC)), dtype=np.float32)
    x[np.arange(n), [op_column(nd.op) for nd in graph.nodes]] = 1.0
    x[:, N_OP_COLS:] = np.asarray(
        [_node_numeric(nd, int(in_deg[i]), int(out_deg[i])) for i, nd in enumerate(graph.nodes)], dtype=np.float32
    )
    nodes = graph.nodes
    graph_attr = np.asarray([
        _log(sum(nd.macs for nd in nodes)), _log(sum(nd.flops for nd in nodes)),
        _log(sum(nd.params for nd in nodes)), _log(sum(nd.bytes_read for nd in nodes)),
        _log(sum(nd.bytes_written for nd in nodes)), _log(len(nodes)), _log(len(graph.edges)),
    ], dtype=np.float32)
    return x, np.ascontiguousarray(edges.T), graph_attr, [nd.name for nd in nodes]
