"""TFLite front end: ``parse_tflite(bytes) -> Graph``.

Reads the flatbuffer in place with the ``tflite`` schema package: tensor shapes,
dtypes and quantization come from the tables; buffers are only asked for their
length (and read only for small integer constants such as reduction axes).
Every subgraph is parsed; operators of subgraphs other than the first are
marked with ``Node.subgraph``. Dequantize ops of constant (fp16) weights fold
into their consumers' weights and are counted in ``meta["folded_nodes"]``.
Layout is NHWC; conv attrs are normalised (``in_channels``, ``out_channels``,
``groups``, ``kernel_shape``) so the cost formulas are layout-free.
"""

from __future__ import annotations

import logging
import struct
from collections import Counter
from typing import Any

import numpy as np
import tflite

from predictor.frontends.tflite_schema import TENSOR_TYPES, builtin_options, opcode_name, vector
from predictor.graph.costs import apply_costs
from predictor.graph.ir import Graph, IRError, Node, TensorInfo
from predictor.graph.limits import Deadline, Limits
from predictor.graph.ops import TFLITE_OPS, unknown

log = logging.getLogger(__name__)

_MAX_VALUE_ELEMENTS = 64
_SUBGRAPH_OPTIONS = ("then_subgraph_index", "else_subgraph_index", "cond_subgraph_index",
                     "body_subgraph_index", "init_subgraph_index", "subgraph")


def parse_tflite(
    data: bytes,
    *,
    input_shapes: dict[str, list[int]] | None = None,
    limits: Limits | None = None,
    name: str = "",
) -> Graph:
    limits = limits or Limits()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise IRError("invalid_model", "not a TFLite flatbuffer (missing the 'TFL3' file identifier)")
    try:
        return _Parser(data, limits, limits.deadline()).run(input_shapes or {}, name)
    except IRError:
        raise
    except (IndexError, struct.error, ValueError, TypeError, AttributeError, UnicodeDecodeError, OverflowError) as exc:
        raise IRError(
            "invalid_model", f"corrupted or truncated TFLite flatbuffer ({type(exc).__name__}: {exc})"
        ) from exc


class _Subgraph:
    """Tensors of one subgraph, described once."""

    def __init__(self, parser: _Parser, index: int) -> None:
        sg = parser.model.Subgraphs(index)
        self.sg, self.index = sg, index
        self.prefix = "" if index == 0 else f"sg{index}/"
        self.label = "" if index == 0 else f"sg{index}:{(sg.Name() or b'').decode('utf-8', 'replace')}"
        self.inputs, self.outputs = vector(sg.InputsAsNumpy), vector(sg.OutputsAsNumpy)
        produced: set[int] = set()
        for k in range(sg.OperatorsLength()):
            parser.deadline.check("scanning operators")
            produced.update(vector(sg.Operators(k).OutputsAsNumpy))
        self.tensors: list[TensorInfo] = []
        self.values: dict[int, np.ndarray] = {}
        seen: set[str] = set()
        for t in range(sg.TensorsLength()):
            parser.deadline.check("reading tensors")
            info = parser.tensor_info(sg.Tensors(t), t, self, produced, seen)
            self.tensors.append(info)

    def info(self, idx: int) -> TensorInfo:
        if idx < 0 or idx >= len(self.tensors):
            raise IRError("invalid_model", f"operator refers to tensor {idx}, which does not exist")
        return self.tensors[idx]


class _Parser:
    def __init__(self, data: bytes, limits: Limits, deadline: Deadline) -> None:
        self.data, self.limits, self.deadline = data, limits, deadline
        self.model = tflite.Model.GetRootAs(data, 0)
        self.nodes: list[Node] = []
        self.folded = 0
        self.links: list[tuple[int, int]] = []  # (control node index, subgraph index)
        self.members: dict[int, list[int]] = {}  # subgraph index -> its node indices
        self.weight_storage: dict[str, str] = {}  # folded weight -> dtype stored in the file

    def check_length(self, n: int, what: str) -> None:
        """A vector of n table offsets needs 4*n bytes: longer means a corrupted length field."""
        if n < 0 or 4 * n > len(self.data):
            raise IRError("invalid_model", f"corrupted TFLite flatbuffer: {n} {what} cannot fit in the file")

    # -- tensors ------------------------------------------------------------------
    def buffer_size(self, idx: int) -> int:
        if idx <= 0 or idx >= self.model.BuffersLength():
            return 0
        buf = self.model.Buffers(idx)
        return max(int(buf.DataLength()), int(buf.Size()))

    def small_value(self, t: Any, dtype: str, numel: int) -> np.ndarray | None:
        if dtype not in ("int32", "int64") or numel > _MAX_VALUE_ELEMENTS:
            return None
        buf = self.model.Buffers(t.Buffer())
        raw = buf.DataAsNumpy()
        if not isinstance(raw, np.ndarray) or raw.size != numel * (4 if dtype == "int32" else 8):
            return None
        return raw.view(np.int32 if dtype == "int32" else np.int64).copy()

    def tensor_info(self, t: Any, idx: int, sub: _Subgraph, produced: set[int], seen: set[str]) -> TensorInfo:
        raw_name = (t.Name() or b"").decode("utf-8", "replace") or f"t{idx}"
        name = sub.prefix + raw_name
        if name in seen:
            name = f"{name}#{idx}"
        seen.add(name)
        shape = vector(t.ShapeAsNumpy)
        dtype = TENSOR_TYPES.get(t.Type(), "unknown")
        q = t.Quantization()
        quantized = q is not None and q.ScaleLength() > 0
        is_const = idx not in produced and idx not in sub.inputs and self.buffer_size(t.Buffer()) > 0
        info = TensorInfo(name, shape, dtype, quantized, is_const)
        if is_const:
            value = self.small_value(t, dtype, info.numel)
            if value is not None:
                sub.values[idx] = value
        else:
            self.limits.check_tensor(name, shape)
        return info

    # -- graph ----------------------------------------------------------------------
    def run(self, input_shapes: dict[str, list[int]], name: str) -> Graph:
        m = self.model
        self.check_length(m.SubgraphsLength(), "subgraphs")
        self.check_length(m.BuffersLength(), "buffers")
        self.check_length(m.OperatorCodesLength(), "operator codes")
        for i in range(m.SubgraphsLength()):
            self.check_length(m.Subgraphs(i).OperatorsLength(), "operators")
            self.check_length(m.Subgraphs(i).TensorsLength(), "tensors")
        total = sum(m.Subgraphs(i).OperatorsLength() for i in range(m.SubgraphsLength()))
        if m.SubgraphsLength() == 0 or total == 0:
            raise IRError("invalid_model", "the TFLite model has no subgraph or no operators")
        self.limits.check_nodes(total)
        self.opcodes = [opcode_name(m.OperatorCodes(i)) for i in range(m.OperatorCodesLength())]
        subs = [_Subgraph(self, i) for i in range(m.SubgraphsLength())]
        _apply_input_shapes(subs[0], input_shapes)
        for sub in subs:
            start = len(self.nodes)
            self.walk(sub)
            self.members[sub.index] = list(range(start, len(self.nodes)))
        self.keep_costlier_if_branches()
        g = Graph(nodes=self.nodes, format="tflite", name=name or (subs[0].label or "main"))
        g.inputs = [subs[0].info(i) for i in subs[0].inputs]
        g.outputs = [subs[0].info(i) for i in subs[0].outputs]
        g.connect_by_tensor_names()
        g.edges = sorted(set(g.edges) | self.control_edges(subs))
        g.meta = {"version": int(m.Version()), "subgraphs": len(subs), "folded_nodes": self.folded,
                  "layout": "NHWC"}
        return g

    def walk(self, sub: _Subgraph) -> None:
        for k in range(sub.sg.OperatorsLength()):
            self.deadline.check("building IR nodes")
            op = sub.sg.Operators(k)
            opname, custom = self.opcodes[op.OpcodeIndex()]
            ins, outs = vector(op.InputsAsNumpy), vector(op.OutputsAsNumpy)
            if any(i < -1 for i in ins) or any(o < 0 for o in outs):
                raise IRError("invalid_model", f"operator {k} of subgraph {sub.index} has a negative tensor index")
            if opname == "DEQUANTIZE" and ins and ins[0] >= 0 and sub.info(ins[0]).is_const:
                self.fold_dequantize(sub, ins[0], outs)
                continue
            node = self.node(sub, k, op, opname, custom, ins, outs)
            for key in _SUBGRAPH_OPTIONS:
                if isinstance(node.attrs.get(key), int) and 0 < node.attrs[key] < self.model.SubgraphsLength():
                    self.links.append((len(self.nodes), node.attrs[key]))
            self.nodes.append(node)

    def fold_dequantize(self, sub: _Subgraph, src: int, outs: list[int]) -> None:
        stored = sub.info(src)
        for o in outs:
            t = sub.info(o)
            t.is_const = True
            self.weight_storage[t.name] = stored.dtype
        self.folded += 1

    def node(self, sub: _Subgraph, k: int, op: Any, opname: str, custom: bool,
             ins: list[int], outs: list[int]) -> Node:
        attrs: dict[str, Any] = {} if custom else builtin_options(op)
        attrs["layout"] = "NHWC"
        inputs, weights = [], []
        for i in ins:
            if i >= 0:
                t = sub.info(i)
                (weights if t.is_const else inputs).append(t)
        canonical = None if custom else TFLITE_OPS.get(opname)
        n = Node(
            name=f"{sub.prefix}{opname.lower()}_{k}",
            op=canonical or unknown(opname),
            source_op=opname,
            attrs=attrs,
            inputs=inputs,
            weights=weights,
            outputs=[sub.info(o) for o in outs if o >= 0],
            subgraph=sub.label,
        )
        stored = {self.weight_storage.get(w.name, w.dtype) for w in weights}
        if "float16" in stored:
            n.attrs["weight_dtype"] = "float16"
        _SPECIAL.get(opname, _no_special)(n, sub, ins)
        return apply_costs(n)

    def keep_costlier_if_branches(self) -> None:
        """Only one branch of an IF runs: keep the costlier branch subgraph's nodes, summarise
        both in the IF node's attrs (a branch subgraph used elsewhere too is kept)."""
        uses: dict[int, int] = {}
        for _, si in self.links:
            uses[si] = uses.get(si, 0) + 1
        drop: set[int] = set()
        for node in self.nodes:
            a = node.attrs
            if node.op != "if" or not {"then_subgraph_index", "else_subgraph_index"} <= set(a):
                continue
            branches = {"then_branch": a["then_subgraph_index"], "else_branch": a["else_subgraph_index"]}
            if any(si not in self.members or uses.get(si) != 1 for si in branches.values()):
                continue
            members = {b: [self.nodes[j] for j in self.members[si]] for b, si in branches.items()}
            a["branches"] = {b: {"nodes": len(ns), "macs": sum(n.macs for n in ns),
                                 "unknown_ops": sum(1 for n in ns if n.is_unknown),
                                 "ops": dict(Counter(n.op for n in ns))} for b, ns in members.items()}
            chosen = max(members, key=lambda b: (a["branches"][b]["macs"], a["branches"][b]["nodes"]))
            a["inlined_branch"] = chosen
            drop.update(si for b, si in branches.items() if b != chosen)
        if drop:
            self._remove_subgraphs(drop)

    def _remove_subgraphs(self, drop: set[int]) -> None:
        gone = {j for si in drop for j in self.members[si]}
        remap, kept = {}, []
        for j, n in enumerate(self.nodes):
            if j not in gone:
                remap[j] = len(kept)
                kept.append(n)
        self.nodes = kept
        self.members = {si: [remap[j] for j in js] for si, js in self.members.items() if si not in drop}
        self.links = [(remap[c], si) for c, si in self.links if si not in drop and c in remap]

    def control_edges(self, subs: list[_Subgraph]) -> set[tuple[int, int]]:
        edges: set[tuple[int, int]] = set()
        for ctrl, si in self.links:
            formal = {subs[si].info(i).name for i in subs[si].inputs}
            for j in self.members.get(si, []):
                reads = {t.name for t in self.nodes[j].inputs}
                if not reads or reads & formal:
                    edges.add((ctrl, j))
        return edges


def _apply_input_shapes(sub: _Subgraph, given: dict[str, list[int]]) -> None:
    """TFLite shapes are fixed at conversion; the batch dimension may be changed."""
    by_name = {sub.info(i).name: sub.info(i) for i in sub.inputs}
    for name, dims in given.items():
        t = by_name.get(name)
        if t is None:
            raise IRError("bad_input_shape", f"the model has no input {name!r}; its inputs are {sorted(by_name)}")
        dims = [int(d) for d in dims]
        old = list(t.shape or [])
        if len(dims) != len(old):
            raise IRError("shape_mismatch", f"input {name!r} has rank {len(old)}, given shape {dims}")
        if dims[1:] != old[1:]:
            raise IRError(
                "shape_mismatch",
                f"input {name!r} is {old} in the TFLite file; only its batch dimension can change (given {dims})",
            )
        if dims[0] != old[0] and old[0] > 0:
            _rebatch(sub, old[0], dims[0])


def _rebatch(sub: _Subgraph, old: int, new: int) -> None:
    for t in sub.tensors:
        if not t.is_const and t.shape and t.shape[0] == old:
            t.shape = [new, *t.shape[1:]]


def _no_special(n: Node, sub: _Subgraph, ins: list[int]) -> None:
    return None


def _channels_last(t: TensorInfo | None) -> int:
    return (t.shape or [0])[-1] if t is not None and t.shape else 0


def _conv(n: Node, sub: _Subgraph, ins: list[int]) -> None:
    x, w = sub.info(ins[0]), sub.info(ins[1])
    wshape = w.shape or []
    if len(wshape) != 4:
        return
    cin = _channels_last(x)
    n.attrs.update(kernel_shape=wshape[1:3], out_channels=wshape[0], in_channels=cin,
                   strides=[n.attrs.get("stride_h", 1), n.attrs.get("stride_w", 1)],
                   dilations=[n.attrs.get("dilation_h_factor", 1), n.attrs.get("dilation_w_factor", 1)],
                   bias=len(ins) > 2 and ins[2] >= 0)
    if cin <= 0 or wshape[3] <= 0 or cin % wshape[3]:
        raise IRError("shape_mismatch", f"{n.name}: input has {cin} channels, filter expects {wshape[3]} per group")
    n.attrs["groups"] = cin // wshape[3]
    if n.attrs["groups"] > 1 and n.attrs["groups"] == cin:
        n.op = "dwconv"


def _dwconv(n: Node, sub: _Subgraph, ins: list[int]) -> None:
    x, w = sub.info(ins[0]), sub.info(ins[1])
    wshape, cin = w.shape or [], _channels_last(x)
    if len(wshape) != 4:
        return
    if cin <= 0 or wshape[3] % cin:
        raise IRError("shape_mismatch", f"{n.name}: {wshape[3]} filter channels for {cin} input channels")
    n.attrs.update(kernel_shape=wshape[1:3], in_channels=cin, out_channels=wshape[3], groups=cin,
                   strides=[n.attrs.get("stride_h", 1), n.attrs.get("stride_w", 1)],
                   dilations=[n.attrs.get("dilation_h_factor", 1), n.attrs.get("dilation_w_factor", 1)],
                   bias=len(ins) > 2 and ins[2] >= 0)


def _transpose_conv(n: Node, sub: _Subgraph, ins: list[int]) -> None:
    w = sub.info(ins[1]).shape or []
    if len(w) == 4:
        n.attrs.update(kernel_shape=w[1:3], in_channels=w[3], out_channels=w[0], groups=1,
                       bias=len(ins) > 3 and ins[3] >= 0)


def _fully_connected(n: Node, sub: _Subgraph, ins: list[int]) -> None:
    w = sub.info(ins[1]).shape or []
    if len(w) == 2:
        n.attrs.update(k=w[1], out_features=w[0])
    n.attrs["bias"] = len(ins) > 2 and ins[2] >= 0


def _batch_matmul(n: Node, sub: _Subgraph, ins: list[int]) -> None:
    a = sub.info(ins[0]).shape or []
    if len(a) >= 2:
        n.attrs["k"] = a[-2] if n.attrs.get("adj_x") else a[-1]


def _pool(n: Node, sub: _Subgraph, ins: list[int]) -> None:
    n.attrs["kernel_shape"] = [n.attrs.get("filter_height", 1), n.attrs.get("filter_width", 1)]
    n.attrs["strides"] = [n.attrs.get("stride_h", 1), n.attrs.get("stride_w", 1)]


def _mean(n: Node, sub: _Subgraph, ins: list[int]) -> None:
    axes = sub.values.get(ins[1]) if len(ins) > 1 else None
    x = sub.info(ins[0])
    if axes is None or not x.shape:
        return
    rank = len(x.shape)
    n.attrs["axes"] = sorted(int(a) % rank for a in axes)
    if rank == 4 and n.attrs["axes"] == [1, 2]:
        n.op = "global_avgpool"


_SPECIAL = {
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _dwconv, "TRANSPOSE_CONV": _transpose_conv,
    "FULLY_CONNECTED": _fully_connected, "BATCH_MATMUL": _batch_matmul,
    "MAX_POOL_2D": _pool, "AVERAGE_POOL_2D": _pool, "L2_POOL_2D": _pool, "MEAN": _mean,
}
