"""ONNX front end: ``parse_onnx(bytes) -> Graph``.

Pipeline: decode the ModelProto (weights stay where protobuf put them and are
never copied), read constants (dims always, values only of small tensors), build
a weight-free working copy, resolve shapes (caller input shapes, onnx shape
inference, folding of shape subgraphs), then turn every remaining operator into
an IR node. Constants are weights, not nodes. Shape-compute nodes that fold to
constants are dropped and counted in ``meta["folded_nodes"]``. Control flow
(If / Loop / Scan) keeps its node and inlines the bodies' operators, marked with
``Node.subgraph``.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np
from onnx import AttributeProto, GraphProto, NodeProto, helper

from predictor.frontends.onnx_fuse import fuse
from predictor.frontends.onnx_model import (
    Const,
    collect_consts,
    count_nodes,
    decode,
    opset_of,
    subgraphs,
)
from predictor.frontends.onnx_shapes import ShapeResult, apply_input_shapes, light_model, resolve_shapes
from predictor.graph.costs import apply_costs
from predictor.graph.ir import Graph, IRError, Node, TensorInfo
from predictor.graph.limits import Deadline, Limits
from predictor.graph.ops import ONNX_OPS, unknown

log = logging.getLogger(__name__)

#: a subgraph built apart: (nodes, control links with body-local indices, entry node indices)
_Body = tuple[list[Node], list[tuple[int, list[int]]], list[int]]

_DOMAINS = ("", "ai.onnx", "com.microsoft")
_QUANT_OUT = {"QuantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm",
              "QLinearAdd", "QLinearMul", "QLinearConcat", "QLinearGlobalAveragePool",
              "QLinearAveragePool", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax"}
_QUANT_IN = {"DequantizeLinear", *_QUANT_OUT} - {"QuantizeLinear", "DynamicQuantizeLinear"}
_INT_STORAGE = {"int8", "uint8", "int4", "uint4", "int16", "uint16"}
#: position of the weight (and bias) input of quantized variants
_WEIGHT_POS = {"QLinearConv": (3, 8), "QLinearMatMul": (3, -1), "QGemm": (3, 6), "ConvInteger": (1, -1),
               "MatMulInteger": (1, -1)}


def parse_onnx(
    data: bytes,
    *,
    input_shapes: dict[str, list[int]] | None = None,
    limits: Limits | None = None,
    external_data: dict[str, bytes] | None = None,
    name: str = "",
) -> Graph:
    limits = limits or Limits()
    deadline = limits.deadline()
    model, raw_sizes = decode(data)
    opset = opset_of(model)
    limits.check_nodes(count_nodes(model.graph, deadline))
    consts = collect_consts(model.graph, external_data or {}, deadline, raw_sizes)
    light = light_model(model, consts)
    meta = {"opset": opset, "producer": model.producer_name, "producer_version": model.producer_version}
    graph_name = name or model.graph.name
    del model
    apply_input_shapes(light.graph, input_shapes or {}, set(consts))
    res = resolve_shapes(light, consts, deadline)
    builder = _Builder(consts, res, limits, deadline)
    builder.walk(res.model.graph, "", {})
    fused = builder.fuse()
    g = Graph(nodes=builder.nodes, format="onnx", name=graph_name, meta=meta)
    g.inputs = [builder.tensor(i.name) for i in light.graph.input if i.name not in consts]
    g.outputs = [builder.tensor(o.name) for o in light.graph.output]
    g.connect_by_tensor_names()
    g.edges = sorted(set(g.edges) | builder.control_edges(g))
    meta.update(folded_nodes=res.folded, fused_nodes=fused, strict_shape_inference=res.strict)
    log.debug("onnx.parsed", extra={"nodes": len(g.nodes), "folded": res.folded})
    return g


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, int | float | str):
        return value
    return None


def _attrs(node: NodeProto) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in node.attribute:
        if a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
            continue
        if a.type == AttributeProto.TENSOR:
            out[a.name] = {"dims": list(a.t.dims)}
            continue
        v = _plain(helper.get_attribute_value(a))
        if v is not None:
            out[a.name] = v
    return out


class _Builder:
    """Turns the shape-resolved ONNX graph (and its subgraphs) into IR nodes."""

    def __init__(self, consts: dict[str, Const], res: ShapeResult, limits: Limits, deadline: Deadline):
        self.consts, self.res, self.limits, self.deadline = consts, res, limits, deadline
        self.nodes: list[Node] = []
        self.sub_links: list[tuple[int, list[int]]] = []  # control node -> its body's nodes
        self.quantized: set[str] = set()
        self.cache: dict[str, TensorInfo] = {}
        self.serial = 0  # numbers unnamed nodes (a path-based name would grow with nesting)

    def tensor(self, name: str) -> TensorInfo:
        """The one TensorInfo of ``name`` (shared by its producer and its consumers)."""
        t = self.cache.get(name)
        if t is None:
            t = self.cache[name] = self._describe(name)
        return t

    def _describe(self, name: str) -> TensorInfo:
        c = self.consts.get(name)
        if c is not None:
            quantized = name in self.quantized or c.stored_dtype in _INT_STORAGE
            return TensorInfo(name, list(c.dims), c.dtype, quantized, True)
        shape = self.res.shapes.get(name)
        self.limits.check_tensor(name, shape)
        dtype = self.res.dtypes.get(name, "unknown")
        return TensorInfo(name, None if shape is None else list(shape), dtype, name in self.quantized)

    def walk(self, graph: GraphProto, where: str, extra: dict[str, Any]) -> list[int]:
        """Append IR nodes of ``graph`` (bodies inlined); return the indices of its own nodes."""
        direct: list[int] = []
        for k, node in enumerate(graph.node):
            self.deadline.check("building IR nodes")
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                continue
            idx = len(self.nodes)
            direct.append(idx)
            self.nodes.append(self.node(node, k, where, extra))
            self.limits.check_nodes(len(self.nodes))
            bodies = {attr: self._body(idx, attr, sub, where, extra) for attr, sub in subgraphs(node)}
            if node.op_type == "If" and len(bodies) == 2:
                bodies = self._larger_branch(idx, bodies)
            for nodes, links, entry in bodies.values():
                offset = len(self.nodes)
                self.nodes.extend(nodes)
                self.sub_links.extend((i + offset, [j + offset for j in b]) for i, b in links)
                self.sub_links.append((idx, [j + offset for j in entry]))
        return direct

    def _body(self, idx: int, attr: str, sub: GraphProto, where: str, extra: dict[str, Any]) -> _Body:
        """Build a subgraph's nodes apart (indices local to the body)."""
        label = (f"{where}/" if where else "") + f"{self.nodes[idx].name}/{attr}"
        body_extra = dict(extra)
        trip = self.nodes[idx].attrs.get("trip_count")
        if trip:
            body_extra["trip_count"] = trip * int(extra.get("trip_count", 1))
        saved = self.nodes, self.sub_links
        self.nodes, self.sub_links = [], []
        try:
            entry = self.walk(sub, label, body_extra)
            return self.nodes, self.sub_links, entry
        finally:
            self.nodes, self.sub_links = saved

    def _larger_branch(self, idx: int, bodies: dict[str, _Body]) -> dict[str, _Body]:
        """Only one branch of an If runs: inline the costlier one, summarise both in the If's attrs."""

        def cost(name: str) -> tuple[int, int]:
            return sum(n.macs for n in bodies[name][0]), len(bodies[name][0])

        chosen = max(bodies, key=cost)
        self.nodes[idx].attrs["branches"] = {
            name: {"nodes": len(b[0]), "macs": cost(name)[0],
                   "unknown_ops": sum(1 for n in b[0] if n.is_unknown),
                   "ops": dict(Counter(n.op for n in b[0]))}
            for name, b in bodies.items()
        }
        self.nodes[idx].attrs["inlined_branch"] = chosen
        return {chosen: bodies[chosen]}

    def node(self, proto: NodeProto, k: int, where: str, extra: dict[str, Any]) -> Node:
        if proto.op_type in _QUANT_IN and proto.input:
            self.quantized.add(proto.input[0])
            self.tensor(proto.input[0]).quantized = True
        if proto.op_type in _QUANT_OUT:
            self.quantized.update(o for o in proto.output if o)
        self.serial += 1
        ins, ws = [], []
        for name in proto.input:
            if name:
                (ws if name in self.consts else ins).append(self.tensor(name))
        op = ONNX_OPS.get(proto.op_type) if proto.domain in _DOMAINS else None
        n = Node(
            name=proto.name or f"{proto.op_type}_{self.serial}",
            op=op or unknown(proto.op_type),
            source_op=proto.op_type if proto.domain in ("", "ai.onnx") else f"{proto.domain}.{proto.op_type}",
            attrs={**_attrs(proto), "layout": "NCHW"},
            inputs=ins,
            weights=ws,
            outputs=[self.tensor(o) for o in proto.output if o],
            subgraph=where,
        )
        stored = [self.consts[i].stored_dtype for i in proto.input if i in self.consts and self.consts[i].stored_dtype]
        if stored:
            n.attrs["weight_dtype"] = stored[0]
        _SPECIAL.get(proto.op_type, _no_special)(n, proto, self.consts)
        _check_same_size(n)
        apply_costs(n)
        trip = int(extra.get("trip_count", 1))
        if trip > 1:
            n.attrs["trip_count"] = trip
            n.macs, n.flops = n.macs * trip, n.flops * trip
        return n

    def fuse(self) -> int:
        """Re-fuse decomposed LayerNorm / GELU / MatMul+bias (see :mod:`onnx_fuse`)."""
        self.nodes, remap, removed = fuse(self.nodes)
        self.sub_links = [(remap[i], sorted({remap[j] for j in body})) for i, body in self.sub_links]
        return removed

    def control_edges(self, g: Graph) -> set[tuple[int, int]]:
        """Control node -> entry nodes of its bodies (those fed by nothing inside the body)."""
        edges: set[tuple[int, int]] = set()
        for idx, body in self.sub_links:
            produced = {t.name for j in body for t in g.nodes[j].outputs}
            for j in body:
                if not any(t.name in produced for t in g.nodes[j].inputs):
                    edges.add((idx, j))
        return edges


def _no_special(n: Node, proto: NodeProto, consts: dict[str, Const]) -> None:
    return None


_SAME_SIZE = {"reshape", "flatten", "squeeze", "unsqueeze", "identity", "transpose"}


def _check_same_size(n: Node) -> None:
    """Layout ops keep the element count; a resolved mismatch means contradictory shapes."""
    if n.op not in _SAME_SIZE or not n.inputs or not n.outputs:
        return
    x, y = n.inputs[0], n.outputs[0]
    if x.resolved and y.resolved and x.numel != y.numel:
        raise IRError(
            "shape_mismatch",
            f"node {n.name!r} ({n.source_op}) turns {x.name!r} {x.shape} into {y.name!r} {y.shape}: "
            "element counts differ",
        )


def _weight_dims(proto: NodeProto, consts: dict[str, Const], pos: int) -> list[int] | None:
    if len(proto.input) > pos and proto.input[pos] in consts:
        return consts[proto.input[pos]].dims
    return None


def _positions(proto: NodeProto) -> tuple[int, int]:
    return _WEIGHT_POS.get(proto.op_type, (1, 2))


def _has_input(proto: NodeProto, pos: int) -> bool:
    return 0 <= pos < len(proto.input) and bool(proto.input[pos])


def _conv(n: Node, proto: NodeProto, consts: dict[str, Const]) -> None:
    wpos, bpos = _positions(proto)
    w = _weight_dims(proto, consts, wpos)
    if w is None and len(n.inputs) > 1:  # weight arrives as an activation (dynamic weights)
        w = n.inputs[1].shape if n.inputs[1].resolved else None
    groups = int(n.attrs.get("group", 1))
    n.attrs["groups"] = groups
    n.attrs["bias"] = _has_input(proto, bpos)
    if not w or len(w) < 3:
        return
    n.attrs.setdefault("kernel_shape", list(w[2:]))
    if n.op == "conv_transpose":
        n.attrs["in_channels"], n.attrs["out_channels"] = w[0], w[1] * groups
    else:
        n.attrs["in_channels"], n.attrs["out_channels"] = w[1] * groups, w[0]
        if groups > 1 and groups == w[1] * groups:
            n.op = "dwconv"
    x = n.inputs[0] if n.inputs else None
    if x is not None and x.resolved and len(x.shape or []) == len(w) and x.shape[1] != n.attrs["in_channels"]:
        raise IRError(
            "shape_mismatch",
            f"node {n.name!r}: input {x.name!r} has {x.shape[1]} channels but the weight expects "
            f"{n.attrs['in_channels']}",
        )


def _gemm(n: Node, proto: NodeProto, consts: dict[str, Const]) -> None:
    wpos, bpos = _positions(proto)
    b = _weight_dims(proto, consts, wpos)
    n.attrs["bias"] = _has_input(proto, bpos)
    if b and len(b) == 2:
        trans_b = int(n.attrs.get("transB", 0))
        n.attrs["k"] = b[1] if trans_b else b[0]
        n.attrs["out_features"] = b[0] if trans_b else b[1]


def _matmul(n: Node, proto: NodeProto, consts: dict[str, Const]) -> None:
    b = _weight_dims(proto, consts, _positions(proto)[0])
    if b and len(b) >= 2:
        n.op = "fc"
        n.attrs["k"], n.attrs["out_features"] = b[-2], b[-1]
    elif n.inputs and n.inputs[0].resolved and n.inputs[0].shape:
        n.attrs["k"] = n.inputs[0].shape[-1]


def _clip(n: Node, proto: NodeProto, consts: dict[str, Const]) -> None:
    def scalar(pos: int, attr: str) -> float | None:
        if attr in n.attrs:
            return float(n.attrs[attr])
        c = consts.get(proto.input[pos]) if len(proto.input) > pos and proto.input[pos] else None
        return float(np.asarray(c.value).reshape(-1)[0]) if c is not None and c.value is not None else None

    lo, hi = scalar(1, "min"), scalar(2, "max")
    n.attrs["min"], n.attrs["max"] = lo, hi
    if lo == 0.0 and hi == 6.0:
        n.op = "relu6"
    elif lo == 0.0 and hi is None:
        n.op = "relu"


def _pool(n: Node, proto: NodeProto, consts: dict[str, Const]) -> None:
    x = n.inputs[0] if n.inputs else None
    if "kernel_shape" not in n.attrs and x is not None and x.resolved:
        n.attrs["kernel_shape"] = list((x.shape or [])[2:])


def _loop(n: Node, proto: NodeProto, consts: dict[str, Const]) -> None:
    c = consts.get(proto.input[0]) if proto.input and proto.input[0] else None
    if c is not None and c.value is not None:
        n.attrs["trip_count"] = int(np.asarray(c.value).reshape(-1)[0])


def _scan(n: Node, proto: NodeProto, consts: dict[str, Const]) -> None:
    axes = n.attrs.get("scan_input_axes") or []
    k = int(n.attrs.get("num_scan_inputs", 0))
    scanned = n.inputs[len(n.inputs) - k] if k and len(n.inputs) >= k else None
    if scanned is not None and scanned.resolved:
        axis = int(axes[0]) if axes else 0
        n.attrs["trip_count"] = (scanned.shape or [1])[axis]


def _reduce_mean(n: Node, proto: NodeProto, consts: dict[str, Const]) -> None:
    axes = n.attrs.get("axes")
    if axes is None and len(proto.input) > 1 and proto.input[1] in consts:
        value = consts[proto.input[1]].value
        axes = None if value is None else [int(a) for a in np.asarray(value).reshape(-1)]
    x = n.inputs[0] if n.inputs else None
    if axes is None or x is None or x.shape is None:
        return
    rank = len(x.shape)
    n.attrs["axes"] = sorted(int(a) % rank for a in axes)
    if rank == 4 and n.attrs["axes"] == [2, 3] and n.attrs.get("keepdims", 1):
        n.op = "global_avgpool"


def _norm_groups(n: Node, proto: NodeProto, consts: dict[str, Const]) -> None:
    n.attrs.setdefault("groups", n.attrs.get("num_groups", 1))


_SPECIAL = {
    "Conv": _conv, "ConvTranspose": _conv, "ConvInteger": _conv, "QLinearConv": _conv, "Gemm": _gemm,
    "QGemm": _gemm, "MatMul": _matmul, "MatMulInteger": _matmul, "QLinearMatMul": _matmul, "Clip": _clip, "MaxPool": _pool,
    "AveragePool": _pool, "Loop": _loop, "Scan": _scan, "GroupNormalization": _norm_groups,
    "ReduceMean": _reduce_mean,
}
