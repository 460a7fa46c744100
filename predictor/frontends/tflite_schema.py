"""Small helpers over the ``tflite`` flatbuffer schema package: enum names,
builtin options as plain dicts, tensor descriptions. Nothing here copies buffer
data: only vector lengths and shapes are read."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import tflite

_SKIP = re.compile(r"^(Init|GetRootAs|.*BufferHasIdentifier|.*IsNone|.*Length)$")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _enum(cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if k.isupper() and isinstance(v, int)}


BUILTIN_NAMES: dict[int, str] = dict(tflite.BUILTIN_OPCODE2NAME)
TENSOR_TYPES: dict[int, str] = {k: v.lower() for k, v in _enum(tflite.TensorType).items()}
ACTIVATIONS: dict[int, str] = {
    0: "none", 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh", 5: "sign_bit",
}
PADDING: dict[int, str] = {0: "same", 1: "valid"}
_OPTION_CLASSES: dict[int, str] = {
    v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_") and isinstance(v, int)
}


def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def builtin_options(op: Any) -> dict[str, Any]:
    """The builtin options table of an operator as a dict of scalars and int lists."""
    kind = op.BuiltinOptionsType()
    cls = getattr(tflite, _OPTION_CLASSES.get(kind, "") or "_", None)
    table = op.BuiltinOptions()
    if cls is None or table is None:
        return {}
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {}
    for attr in dir(cls):
        if attr.startswith("_") or _SKIP.match(attr):
            continue
        value = _read_option(opts, attr)
        if value is not None:
            out[snake(attr[: -len("AsNumpy")] if attr.endswith("AsNumpy") else attr)] = value
    if "fused_activation_function" in out:
        out["fused_activation"] = ACTIVATIONS.get(out.pop("fused_activation_function"), "unknown")
    if "padding" in out and isinstance(out["padding"], int):
        out["padding"] = PADDING.get(out["padding"], out["padding"])
    return out


def _read_option(opts: Any, attr: str) -> Any:
    fn = getattr(opts, attr)
    if not callable(fn):
        return None
    try:
        value = fn()
    except TypeError:  # vector element getters need an index; read their AsNumpy twin
        return None
    if isinstance(value, np.ndarray):
        return [int(x) for x in value.reshape(-1)[:64]]
    if isinstance(value, bool | int | float):
        return value
    return None


def vector(getter: Any) -> list[int]:
    """``XAsNumpy()`` as a list (the schema returns 0 for an absent vector)."""
    value = getter()
    if isinstance(value, np.ndarray):
        return [int(x) for x in value]
    return []


def opcode_name(code: Any) -> tuple[str, bool]:
    """(name, is_custom) of an OperatorCode table."""
    builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
    if BUILTIN_NAMES.get(builtin) == "CUSTOM":
        custom = code.CustomCode()
        return (custom.decode("utf-8", "replace") if custom else "custom"), True
    return BUILTIN_NAMES.get(builtin, f"builtin_{builtin}"), False
