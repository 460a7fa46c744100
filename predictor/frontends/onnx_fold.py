"""Constant folding of ONNX shape-computing subgraphs (Shape -> Gather -> Concat -> Reshape).

Only small integer-ish tensors are ever evaluated: the evaluator never touches
weights. A node is folded when every input value is known (constants, or the
static shape of a tensor for ``Shape``) and its result is small.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import NodeProto, helper

MAX_FOLD_ELEMENTS = 4096

Values = list[np.ndarray | None]


def _attr(node: NodeProto, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _shape(node: NodeProto, vals: Values, shapes: dict[str, list[int] | None]) -> np.ndarray | None:
    shape = shapes.get(node.input[0])
    if shape is None or any(d < 0 for d in shape):
        return None
    start, end = _attr(node, "start", 0), _attr(node, "end", None)
    return np.array(shape[start:end] if end is not None else shape[start:], dtype=np.int64)


def _size(node: NodeProto, vals: Values, shapes: dict[str, list[int] | None]) -> np.ndarray | None:
    shape = shapes.get(node.input[0])
    if shape is None or any(d < 0 for d in shape):
        return None
    return np.array(int(np.prod(shape)), dtype=np.int64)


def _gather(node: NodeProto, v: Values) -> np.ndarray:
    return np.take(v[0], v[1], axis=_attr(node, "axis", 0))


def _concat(node: NodeProto, v: Values) -> np.ndarray:
    return np.concatenate([np.atleast_1d(x) for x in v], axis=_attr(node, "axis", 0))


def _axes(node: NodeProto, v: Values) -> list[int]:
    axes = _attr(node, "axes", None)
    if axes is None and len(v) > 1 and v[1] is not None:
        axes = [int(a) for a in np.atleast_1d(v[1])]
    return list(axes or [])


def _unsqueeze(node: NodeProto, v: Values) -> np.ndarray:
    out = v[0]
    rank = out.ndim + len(_axes(node, v))
    for a in sorted(a % rank for a in _axes(node, v)):
        out = np.expand_dims(out, a)
    return out


def _squeeze(node: NodeProto, v: Values) -> np.ndarray:
    axes = _axes(node, v)
    return np.squeeze(v[0], axis=tuple(axes) if axes else None)


def _slice(node: NodeProto, v: Values) -> np.ndarray:
    data = v[0]
    if len(v) == 1:  # opset < 10 style attributes
        starts, ends = _attr(node, "starts"), _attr(node, "ends")
        axes, steps = _attr(node, "axes"), None
    else:
        starts, ends = v[1], v[2]
        axes = v[3] if len(v) > 3 else None
        steps = v[4] if len(v) > 4 else None
    axes = list(range(len(starts))) if axes is None else [int(a) for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    idx = [slice(None)] * data.ndim
    big = 2**62
    for a, s, e, st in zip(axes, starts, ends, steps, strict=False):
        s, e = int(s), int(e)
        idx[a] = slice(None if abs(s) >= big else s, None if abs(e) >= big else e, st)
    return data[tuple(idx)]


def _cast(node: NodeProto, v: Values) -> np.ndarray:
    to = helper.tensor_dtype_to_np_dtype(_attr(node, "to", 7))
    return v[0].astype(to)


def _reshape(node: NodeProto, v: Values) -> np.ndarray:
    shape = [int(d) for d in v[1]]
    shape = [v[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return v[0].reshape(shape)


def _constant_of_shape(node: NodeProto, v: Values) -> np.ndarray | None:
    shape = [int(d) for d in np.atleast_1d(v[0])]
    if int(np.prod(shape)) > MAX_FOLD_ELEMENTS:
        return None
    value = _attr(node, "value", None)
    fill = helper.tensor_dtype_to_np_dtype(value.data_type) if value is not None else np.float32
    from onnx import numpy_helper

    scalar = numpy_helper.to_array(value).reshape(-1)[0] if value is not None else 0
    return np.full(shape, scalar, dtype=fill)


def _range(node: NodeProto, v: Values) -> np.ndarray | None:
    start, limit, delta = (x.item() for x in v[:3])
    if delta == 0 or abs((limit - start) / delta) > MAX_FOLD_ELEMENTS:
        return None
    return np.arange(start, limit, delta, dtype=v[0].dtype)


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[NodeProto, Values], np.ndarray]:
    def run(node: NodeProto, v: Values) -> np.ndarray:
        out = fn(v[0], v[1])
        return np.asarray(out, dtype=v[0].dtype) if v[0].dtype.kind in "iu" else out

    return run


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        return np.trunc(np.true_divide(a, b)).astype(a.dtype)
    return np.true_divide(a, b)


def _reduce(fn: Callable[..., np.ndarray]) -> Callable[[NodeProto, Values], np.ndarray]:
    def run(node: NodeProto, v: Values) -> np.ndarray:
        axes = _axes(node, v)
        keep = bool(_attr(node, "keepdims", 1))
        return np.asarray(fn(v[0], axis=tuple(axes) if axes else None, keepdims=keep))

    return run


EVALUATORS: dict[str, Callable[[NodeProto, Values], np.ndarray | None]] = {
    "Gather": _gather,
    "Concat": _concat,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Slice": _slice,
    "Cast": _cast,
    "Reshape": _reshape,
    "Identity": lambda n, v: v[0],
    "ConstantOfShape": _constant_of_shape,
    "Range": _range,
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _binary(_div),
    "Mod": _binary(np.mod),
    "Min": _binary(np.minimum),
    "Max": _binary(np.maximum),
    "Equal": lambda n, v: np.equal(v[0], v[1]),
    "Less": lambda n, v: np.less(v[0], v[1]),
    "Greater": lambda n, v: np.greater(v[0], v[1]),
    "Not": lambda n, v: np.logical_not(v[0]),
    "Where": lambda n, v: np.where(v[0], v[1], v[2]),
    "Neg": lambda n, v: np.negative(v[0]),
    "Abs": lambda n, v: np.abs(v[0]),
    "Floor": lambda n, v: np.floor(v[0]),
    "Ceil": lambda n, v: np.ceil(v[0]),
    "Sqrt": lambda n, v: np.sqrt(v[0]),
    "ReduceProd": _reduce(np.prod),
    "ReduceSum": _reduce(np.sum),
    "Expand": lambda n, v: v[0] * np.ones([int(d) for d in v[1]], dtype=v[0].dtype),
    "Transpose": lambda n, v: np.transpose(v[0], _attr(n, "perm", None)),
    "Flatten": lambda n, v: v[0].reshape(int(np.prod(v[0].shape[: _attr(n, "axis", 1)])), -1),
}

SHAPE_OPS = {"Shape": _shape, "Size": _size}


def fold_node(
    node: NodeProto, values: dict[str, np.ndarray], shapes: dict[str, list[int] | None]
) -> np.ndarray | None:
    """Evaluate ``node`` if all it needs is known; None otherwise (never raises)."""
    if node.domain not in ("", "ai.onnx") or len(node.output) != 1:
        return None
    try:
        if node.op_type in SHAPE_OPS:
            out = SHAPE_OPS[node.op_type](node, [], shapes)
        else:
            fn = EVALUATORS.get(node.op_type)
            if fn is None or not node.input:
                return None
            ins: Values = [values.get(n) if n else None for n in node.input]
            if ins[0] is None or any(x is None for x, n in zip(ins, node.input, strict=True) if n):
                return None
            out = fn(node, ins)
    except (ValueError, IndexError, TypeError, ArithmeticError, AttributeError, OverflowError):
        return None
    if out is None:
        return None
    out = np.asarray(out)
    return out if out.size <= MAX_FOLD_ELEMENTS else None
