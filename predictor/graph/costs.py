"""Cost formulas per canonical op: MACs, FLOPs, parameters, bytes moved.

Formulas read only the IR node (its attrs and tensor shapes), so they are
layout-independent: front ends put ``in_channels``, ``out_channels``,
``groups`` and ``kernel_shape`` (spatial dims only) into conv attrs, whatever
the file's layout (ONNX NCHW, TFLite NHWC).
"""

from __future__ import annotations

from math import prod

from predictor.graph.ir import Node, TensorInfo
from predictor.graph.ops import NON_PARAM_OPS, category, flops_per_element

_INT_DTYPES = {"int64", "int32", "bool", "uint64", "uint32", "int16", "uint16"}


def _numel(t: TensorInfo | None) -> int:
    return t.numel if t is not None else 0


def _first(ts: list[TensorInfo]) -> TensorInfo | None:
    return ts[0] if ts else None


def _out_numel(node: Node) -> int:
    return sum(t.numel for t in node.outputs)


def conv_macs(node: Node) -> int:
    """MACs of a (grouped / depthwise) convolution: each output element needs
    (in_channels / groups) * prod(kernel) multiply-accumulates."""
    a = node.attrs
    cin, groups = int(a.get("in_channels", 0) or 0), int(a.get("groups", 1) or 1)
    kernel = prod(int(k) for k in a.get("kernel_shape") or [1])
    if cin <= 0:
        return 0
    if node.op == "conv_transpose":
        cout = int(a.get("out_channels", 0) or 0)
        return _numel(_first(node.inputs)) * (cout // groups) * kernel
    return _out_numel(node) * (cin // groups) * kernel


def matmul_macs(node: Node) -> int:
    """MACs of fc / (batched) matmul: output elements times the reduced dimension
    (for fc with an unresolved output: input rows times ``out_features`` times k)."""
    a = _first(node.inputs)
    k = int(node.attrs.get("k", 0) or 0)
    if k <= 0:
        if a is None or not a.resolved or not a.shape:
            return 0
        k = a.shape[-1]
    out = _out_numel(node)
    features = int(node.attrs.get("out_features", 0) or 0)
    if not out and features and a is not None and a.resolved and a.shape:
        out = a.numel // max(1, a.shape[-1]) * features
    return out * k


def rnn_macs(node: Node) -> int:
    """Gate MACs of LSTM/GRU/RNN from the weight shapes (W and R), times sequence length."""
    x = _first(node.inputs)
    if x is None or not x.resolved or len(x.shape or []) < 2:
        return 0
    seq, batch = (x.shape or [1, 1])[0], (x.shape or [1, 1])[1]
    if node.attrs.get("layout") == "batch_first":
        seq, batch = batch, seq
    wmacs = sum(t.numel for t in node.weights[:2] if len(t.shape or []) == 3)
    return seq * batch * wmacs


def _macs(node: Node) -> int:
    cat = category(node.op)
    if cat == "conv":
        return conv_macs(node)
    if cat == "matmul" and node.op != "einsum":
        return matmul_macs(node)
    if cat == "rnn":
        return rnn_macs(node)
    return 0


def _flops(node: Node, macs: int) -> int:
    cat = category(node.op)
    out = _out_numel(node)
    if macs:
        bias = out if node.attrs.get("bias") else 0
        return 2 * macs + bias
    if cat in ("eltwise", "activation"):
        return out * flops_per_element(node.op)
    if cat == "norm":
        return out * (4 if node.op == "batchnorm" else 8)
    if cat == "softmax":
        return out * 5
    if cat == "pool":
        if node.op.startswith("global_"):
            return _numel(_first(node.inputs))
        return out * prod(int(k) for k in node.attrs.get("kernel_shape") or [1])
    if cat == "reduce":
        return _numel(_first(node.inputs))
    if node.op == "resize":
        return out * 4
    return 0


def _params(node: Node) -> int:
    if node.op in NON_PARAM_OPS:
        return 0
    total = 0
    for w in node.weights:
        if w.dtype in _INT_DTYPES and category(node.op) not in ("conv", "matmul", "rnn"):
            continue
        total += w.numel
    return total


def apply_costs(node: Node) -> Node:
    """Fill ``macs, flops, params, bytes_read, bytes_written`` of ``node`` in place."""
    macs = _macs(node)
    node.macs = macs
    node.flops = _flops(node, macs)
    node.params = _params(node)
    node.bytes_read = sum(t.nbytes for t in (*node.inputs, *node.weights))
    node.bytes_written = sum(t.nbytes for t in node.outputs)
    return node
