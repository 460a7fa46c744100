"""Reading an ONNX ModelProto safely: decoding, validation, constants, external data.

Weights are never copied: only the dims and dtype of an initializer are read,
and the value only for small integer tensors (shape arithmetic) and scalars.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError
from onnx import GraphProto, ModelProto, TensorProto, helper, numpy_helper

from predictor.frontends.onnx_wire import strip_weight_bytes
from predictor.graph.ir import DTYPE_BYTES, IRError
from predictor.graph.limits import Deadline

MIN_OPSET = 11
#: integer constants up to this size are read (shape arithmetic); floats only as scalars
MAX_INT_VALUE = 4096
MAX_FLOAT_VALUE = 16

ONNX_DTYPES: dict[int, str] = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
    14: "complex64", 16: "bfloat16", 21: "uint4", 22: "int4",
}
_INT_TYPES = {2, 3, 4, 5, 6, 7, 9, 12, 13}
_PACKED_OR_VARIABLE = {"int4", "uint4", "string", "unknown"}
_TYPED_FIELDS = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")


@dataclass
class Const:
    """A constant tensor (initializer, Constant node output or folded value)."""

    dims: list[int]
    dtype: str
    value: np.ndarray | None = None
    #: dtype kept in the file when a DequantizeLinear of this weight was folded ("int8", ...)
    stored_dtype: str = ""


def decode(data: bytes) -> tuple[ModelProto, dict[str, int]]:
    """Parse bytes into a ModelProto without the large weights (see :mod:`onnx_wire`);
    also return the byte size of each left-out ``raw_data``. Not a usable model -> IRError."""
    light, raw_sizes = strip_weight_bytes(data)
    model = ModelProto()
    try:
        model.ParseFromString(light)
    except (DecodeError, RuntimeError, ValueError, TypeError) as exc:
        raise IRError(
            "invalid_model",
            f"not a readable ONNX model (the file is truncated or corrupted): {exc}",
        ) from exc
    if not model.HasField("graph") or len(model.graph.node) == 0:
        raise IRError("invalid_model", "the ONNX file has no graph or an empty graph")
    return model, raw_sizes


def opset_of(model: ModelProto) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise IRError("invalid_model", "the ONNX model declares no default-domain opset")
    opset = max(versions)
    if opset < MIN_OPSET:
        raise IRError(
            "unsupported_opset",
            f"opset {opset} is older than the supported minimum {MIN_OPSET}; re-export the model",
        )
    return opset


def subgraphs(node) -> Iterator[tuple[str, GraphProto]]:
    for a in node.attribute:
        if a.type == a.GRAPH:
            yield a.name, a.g
        elif a.type == a.GRAPHS:
            for i, g in enumerate(a.graphs):
                yield f"{a.name}{i}", g


def count_nodes(graph: GraphProto, deadline: Deadline) -> int:
    n = 0
    for node in graph.node:
        n += 1
        for _, g in subgraphs(node):
            deadline.check("counting nodes")
            n += count_nodes(g, deadline)
    return n


def _has_inline_data(t: TensorProto) -> bool:
    return t.HasField("raw_data") or any(len(getattr(t, f)) for f in _TYPED_FIELDS)


def _external_slice(t: TensorProto, external: dict[str, bytes]) -> bytes:
    info = {e.key: e.value for e in t.external_data}
    loc = info.get("location", "")
    if loc not in external:
        raise IRError(
            "external_data",
            f"initializer {t.name!r} keeps its data in external file {loc!r}; pass that file's "
            "bytes as external_data (external references are never read from disk)",
        )
    blob = external[loc]
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else len(blob) - offset
    except ValueError as exc:
        raise IRError("external_data", f"bad external_data entry of {t.name!r}: {exc}") from exc
    if offset < 0 or length < 0 or offset + length > len(blob):
        raise IRError(
            "external_data",
            f"initializer {t.name!r} wants bytes {offset}..{offset + length} of {loc!r}, "
            f"which has {len(blob)} bytes",
        )
    return blob[offset : offset + length]


def _wants_value(t: TensorProto, numel: int) -> bool:
    if t.data_type in _INT_TYPES:
        return numel <= MAX_INT_VALUE
    return numel <= MAX_FLOAT_VALUE and t.data_type in (1, 10, 11)


def _check_raw_size(t: TensorProto, dtype: str, numel: int, size: int) -> None:
    itemsize = DTYPE_BYTES.get(dtype, 0) if dtype not in _PACKED_OR_VARIABLE else 0
    if itemsize and size != numel * itemsize:
        raise IRError(
            "shape_mismatch",
            f"initializer {t.name!r} has dims {list(t.dims)} ({numel} x {dtype}) "
            f"but carries {size} bytes of data",
        )


def tensor_const(t: TensorProto, external: dict[str, bytes], raw_size: int | None = None) -> Const:
    """Describe an initializer; read its value only when small enough to matter for shapes.

    ``raw_size`` is the length of raw data left out by the wire pass (None: nothing left out)."""
    dims = [int(d) for d in t.dims]
    if any(d < 0 for d in dims):
        raise IRError("invalid_model", f"initializer {t.name!r} has negative dims {dims}")
    const = Const(dims, ONNX_DTYPES.get(t.data_type, "unknown"))
    numel = int(np.prod(dims)) if dims else 1
    if raw_size is not None:
        _check_raw_size(t, const.dtype, numel, raw_size)
        return const
    external_ref = t.data_location == TensorProto.EXTERNAL
    if external_ref:
        raw = _external_slice(t, external)
        if _wants_value(t, numel):
            light = TensorProto(name=t.name, data_type=t.data_type, dims=t.dims, raw_data=raw)
            const.value = _to_array(light)
    elif _wants_value(t, numel) and _has_inline_data(t):
        const.value = _to_array(t)
    return const


def _to_array(t: TensorProto) -> np.ndarray | None:
    try:
        return numpy_helper.to_array(t)
    except (ValueError, TypeError) as exc:
        raise IRError("invalid_model", f"tensor {t.name!r} holds malformed data: {exc}") from exc


def constant_node_value(node, external: dict[str, bytes]) -> Const:
    """The constant produced by an ONNX ``Constant`` node."""
    for a in node.attribute:
        if a.name == "value" and a.type == a.TENSOR:
            return tensor_const(a.t, external)
        if a.name in ("value_int", "value_float"):
            v = np.array(helper.get_attribute_value(a), dtype=np.int64 if a.name == "value_int" else np.float32)
            return Const([], "int64" if a.name == "value_int" else "float32", v)
        if a.name in ("value_ints", "value_floats"):
            is_int = a.name == "value_ints"
            v = np.array(helper.get_attribute_value(a), dtype=np.int64 if is_int else np.float32)
            return Const([len(v)], "int64" if is_int else "float32", v)
    raise IRError("invalid_model", f"Constant node {node.name!r} carries no supported value")


def collect_consts(
    graph: GraphProto, external: dict[str, bytes], deadline: Deadline, raw_sizes: dict[str, int] | None = None
) -> dict[str, Const]:
    """Initializers and Constant-node outputs of ``graph`` and all its subgraphs."""
    consts: dict[str, Const] = {}
    raw_sizes = raw_sizes or {}
    for t in graph.initializer:
        deadline.check("reading initializers")
        consts[t.name] = tensor_const(t, external, raw_sizes.get(t.name))
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.output:
            consts[node.output[0]] = constant_node_value(node, external)
        for _, g in subgraphs(node):
            consts.update(collect_consts(g, external, deadline))
    return consts
