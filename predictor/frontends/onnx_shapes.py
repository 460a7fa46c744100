"""Shapes for an ONNX graph: a weight-free working copy, caller input shapes,
onnx shape inference and constant folding of shape subgraphs, repeated until
nothing more folds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from onnx import (
    GraphProto,
    ModelProto,
    NodeProto,
    TensorProto,
    ValueInfoProto,
    helper,
    numpy_helper,
    shape_inference,
)

from predictor.frontends.onnx_fold import fold_node
from predictor.frontends.onnx_model import ONNX_DTYPES, Const, subgraphs
from predictor.graph.ir import IRError
from predictor.graph.limits import Deadline

log = logging.getLogger(__name__)

MAX_FOLD_ROUNDS = 8
_NP_TO_ONNX = {v: k for k, v in ONNX_DTYPES.items()}
_MISMATCH_HINTS = ("incompatible", "mismatch", "differ", "must match", "must be equal", "do not match")


@dataclass
class ShapeResult:
    model: ModelProto
    shapes: dict[str, list[int] | None] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)
    folded: int = 0
    strict: bool = True


def _dims(vi: ValueInfoProto) -> tuple[list[int] | None, str]:
    tt = vi.type.tensor_type
    dtype = ONNX_DTYPES.get(tt.elem_type, "unknown")
    if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
        return None, dtype
    return [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim], dtype


def light_model(model: ModelProto, consts: dict[str, Const]) -> ModelProto:
    """A copy of ``model`` without weight data: constants with a known value become
    initializers, the others typed graph inputs (dims only), Constant nodes go away."""
    light = ModelProto(ir_version=model.ir_version)
    light.opset_import.extend(model.opset_import)
    g, src = light.graph, model.graph
    g.name = src.name
    g.output.extend(src.output)
    init_names = {t.name for t in src.initializer}
    g.input.extend(i for i in src.input if i.name not in init_names)
    g.node.extend(n for n in src.node if not (n.op_type == "Constant" and n.domain in ("", "ai.onnx")))
    main_consts = init_names | {n.output[0] for n in src.node if n.op_type == "Constant" and n.output}
    for name in main_consts:
        add_const(g, name, consts[name])
    return light


def add_const(g: GraphProto, name: str, c: Const) -> None:
    if c.value is not None:
        g.initializer.append(numpy_helper.from_array(np.asarray(c.value), name))
    else:
        elem = _NP_TO_ONNX.get(c.dtype, TensorProto.FLOAT)
        g.input.append(helper.make_tensor_value_info(name, elem, c.dims))


def apply_input_shapes(g: GraphProto, given: dict[str, list[int]], const_names: set[str]) -> None:
    """Fix input dims from ``given``; a symbolic leading (batch) dim defaults to 1."""
    real = [i for i in g.input if i.name not in const_names]
    names = {i.name for i in real}
    for name in given:
        if name not in names:
            raise IRError("bad_input_shape", f"the model has no input {name!r}; its inputs are {sorted(names)}")
    params: dict[str, int] = {}
    for vi in real:
        if vi.name in given:
            _set_dims(vi, [int(d) for d in given[vi.name]], params)
    for vi in real:
        dims = vi.type.tensor_type.shape.dim
        for k, d in enumerate(dims):
            if d.HasField("dim_value") and d.dim_value > 0:
                continue
            value = params.get(d.dim_param) if d.dim_param else None
            if value is None and k == 0 and len(dims) > 1:
                value = 1
            if value is not None:
                d.Clear()
                d.dim_value = value


def _set_dims(vi: ValueInfoProto, dims: list[int], params: dict[str, int]) -> None:
    shape = vi.type.tensor_type.shape
    if any(d <= 0 for d in dims):
        raise IRError("bad_input_shape", f"input {vi.name!r}: dims must be positive, got {dims}")
    if vi.type.tensor_type.HasField("shape") and len(shape.dim) != len(dims):
        raise IRError(
            "shape_mismatch",
            f"input {vi.name!r} has rank {len(shape.dim)} but the given shape {dims} has rank {len(dims)}",
        )
    old = list(shape.dim)
    for k, value in enumerate(dims):
        if k < len(old) and old[k].HasField("dim_value") and old[k].dim_value not in (0, value):
            raise IRError(
                "shape_mismatch",
                f"input {vi.name!r} dim {k} is fixed to {old[k].dim_value} in the model, given {value}",
            )
        if k < len(old) and old[k].dim_param:
            params[old[k].dim_param] = value
    shape.ClearField("dim")
    for value in dims:
        shape.dim.add().dim_value = value


def _run_inference(light: ModelProto) -> tuple[ModelProto, bool]:
    try:
        return shape_inference.infer_shapes(light, strict_mode=True, data_prop=True), True
    except shape_inference.InferenceError as exc:
        text = str(exc)
        if "overflow" in text.lower():
            raise IRError("too_large", f"a tensor shape in the model overflows: {text[:500]}") from exc
        if any(h in text.lower() for h in _MISMATCH_HINTS):
            raise IRError("shape_mismatch", f"the model's shapes contradict each other: {text[:500]}") from exc
        log.info("onnx.shape_inference.lenient", extra={"reason": text[:200]})
    except (RuntimeError, ValueError) as exc:
        log.info("onnx.shape_inference.lenient", extra={"reason": str(exc)[:200]})
    try:
        return shape_inference.infer_shapes(light, strict_mode=False, data_prop=True), False
    except (shape_inference.InferenceError, RuntimeError, ValueError) as exc:
        log.warning("onnx.shape_inference.failed", extra={"reason": str(exc)[:200]})
        return light, False


def _collect(g: GraphProto, res: ShapeResult) -> None:
    for vi in (*g.input, *g.value_info, *g.output):
        shape, dtype = _dims(vi)
        if shape is not None or vi.name not in res.shapes:
            res.shapes[vi.name] = shape
        if dtype != "unknown" or vi.name not in res.dtypes:
            res.dtypes[vi.name] = dtype
    for node in g.node:
        for _, sub in subgraphs(node):
            _collect(sub, res)


def infer(light: ModelProto) -> ShapeResult:
    model, strict = _run_inference(light)
    res = ShapeResult(model=model, strict=strict)
    _collect(model.graph, res)
    return res


def _alias(node: NodeProto, consts: dict[str, Const]) -> Const | None:
    """Identity of a constant (exporters emit these for shared weights) is that constant;
    DequantizeLinear of a constant (QDQ weights) is a float weight stored as integers."""
    if node.domain not in ("", "ai.onnx") or not node.input or node.input[0] not in consts:
        return None
    c = consts[node.input[0]]
    if node.op_type == "Identity":
        return Const(list(c.dims), c.dtype, c.value, c.stored_dtype)
    if node.op_type == "DequantizeLinear" and all(i in consts for i in node.input if i):
        scale = consts.get(node.input[1]) if len(node.input) > 1 else None
        return Const(list(c.dims), scale.dtype if scale else "float32", None, c.dtype)
    return None


def _evaluate(node: NodeProto, values: dict[str, np.ndarray], res: ShapeResult) -> Const | None:
    out = fold_node(node, values, res.shapes)
    return None if out is None else Const(list(out.shape), str(out.dtype), out)


def _fold_round(light: ModelProto, consts: dict[str, Const], res: ShapeResult, deadline: Deadline) -> int:
    values = {n: c.value for n, c in consts.items() if c.value is not None}
    outputs = {o.name for o in light.graph.output}
    keep, new = [], 0
    for node in light.graph.node:
        deadline.check("folding shape computations")
        if node.output and node.output[0] in outputs:
            keep.append(node)
            continue
        const = _alias(node, consts) or _evaluate(node, values, res)
        if const is None:
            keep.append(node)
            continue
        name = node.output[0]
        if const.value is not None:
            values[name] = const.value
        consts[name] = const
        add_const(light.graph, name, const)
        new += 1
    if new:
        kept = [NodeProto() for _ in keep]
        for copy, node in zip(kept, keep, strict=True):
            copy.CopyFrom(node)
        del light.graph.node[:]
        light.graph.node.extend(kept)
        light.graph.ClearField("value_info")
    return new


def resolve_shapes(light: ModelProto, consts: dict[str, Const], deadline: Deadline) -> ShapeResult:
    """Infer, fold what became constant, and infer again until a fixed point."""
    folded = 0
    for _ in range(MAX_FOLD_ROUNDS):
        deadline.check("shape inference")
        res = infer(light)
        new = _fold_round(light, consts, res, deadline)
        folded += new
        if not new:
            break
    else:
        res = infer(light)
    res.folded = folded
    return res
