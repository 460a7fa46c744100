"""A protobuf wire-format pass over a serialized ONNX ModelProto that leaves large
initializer ``raw_data`` out before protobuf parses the model.

Parsing a ModelProto copies every weight byte; the IR needs only dims and dtypes of
weights. This pass copies everything else (small: the graph structure) and returns
the byte length of each omitted ``raw_data``, so peak memory stays near the file size.
Only the main graph's initializers are touched; everything else is copied verbatim.
"""

from __future__ import annotations

from predictor.graph.ir import IRError

#: raw_data longer than this is left out: integer tensors up to 4096 int64 (shape
#: arithmetic) and float scalars (clip bounds) are kept, everything bigger is weights
STRIP_ABOVE = 64 * 1024
STRIP_FLOAT_ABOVE = 128

_MODEL_GRAPH, _GRAPH_INITIALIZER = 7, 5
_TENSOR_DATA_TYPE, _TENSOR_NAME, _TENSOR_RAW = 2, 8, 9
_FLOAT_TYPES = {1, 10, 11, 16}  # float32, float16, float64, bfloat16


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise IRError("invalid_model", "not a readable ONNX model (the file is truncated or corrupted)")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf: bytes, pos: int, end: int):
    """Yield (field number, wire type, field start, value start, value end)."""
    while pos < end:
        start = pos
        tag, pos = _varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            _, vend = _varint(buf, pos, end)
        elif wire == 1:
            vend = pos + 8
        elif wire == 5:
            vend = pos + 4
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            vend = pos + length
        else:
            raise IRError("invalid_model", f"not a readable ONNX model (unsupported wire type {wire})")
        if vend > end:
            raise IRError("invalid_model", "not a readable ONNX model (the file is truncated or corrupted)")
        yield field, wire, start, pos, vend
        pos = vend


def _message(tag: int, parts: list) -> list:
    size = sum(len(p) for p in parts)
    return [_encode_varint(tag), _encode_varint(size), *parts]


def _tensor(buf: memoryview, s: int, e: int, raw: dict[str, int]) -> list | None:
    parts: list = []
    name, data_type, raw_at = "", 0, -1
    for field, wire, fs, vs, ve in _fields(buf, s, e):
        if field == _TENSOR_RAW and wire == 2:
            raw_at = len(parts)
        elif field == _TENSOR_NAME and wire == 2:
            name = bytes(buf[vs:ve]).decode("utf-8", "replace")
        elif field == _TENSOR_DATA_TYPE and wire == 0:
            data_type = _varint(buf, vs, ve)[0]
        parts.append(buf[fs:ve])
    if raw_at < 0:
        return None
    size = len(parts[raw_at]) - (len(_encode_varint(len(parts[raw_at]))) + 1)
    limit = STRIP_FLOAT_ABOVE if data_type in _FLOAT_TYPES else STRIP_ABOVE
    if size <= limit:
        return None
    _, vs = _varint(parts[raw_at], 1, len(parts[raw_at]))
    raw[name] = len(parts[raw_at]) - vs
    del parts[raw_at]
    return _message((_GRAPH_INITIALIZER << 3) | 2, parts)


def _graph(buf: memoryview, s: int, e: int, raw: dict[str, int]) -> list:
    parts: list = []
    for field, wire, fs, vs, ve in _fields(buf, s, e):
        light = _tensor(buf, vs, ve, raw) if field == _GRAPH_INITIALIZER and wire == 2 else None
        parts.extend(light if light is not None else [buf[fs:ve]])
    return _message((_MODEL_GRAPH << 3) | 2, parts)


def strip_weight_bytes(data: bytes) -> tuple[bytes, dict[str, int]]:
    """(model bytes without large initializer raw_data, {initializer name: omitted byte count}).

    Returns ``data`` itself when nothing is large enough to leave out."""
    buf = memoryview(data)
    raw: dict[str, int] = {}
    parts: list = []
    for field, wire, fs, vs, ve in _fields(buf, 0, len(data)):
        parts.extend(_graph(buf, vs, ve, raw) if field == _MODEL_GRAPH and wire == 2 else [buf[fs:ve]])
    if not raw:
        return data, raw
    return b"".join(parts), raw
