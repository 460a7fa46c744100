"""A corpus of hostile model files, built from real exported models.

``build_corpus(onnx_bytes, tflite_bytes, seed)`` returns a list of ``(name, bytes)``:
truncations and bit flips of real files, plus hand-crafted attacks (external-data
path traversal, huge declared dimensions, deeply nested subgraphs, cycles, protobuf
bombs, compressed bombs, wrong magic). Deterministic for a seed.
"""

from __future__ import annotations

import gzip
import io
import random
import zipfile

import flatbuffers
import onnx
import tflite
from onnx import TensorProto, helper


def truncations(name: str, data: bytes, count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    cuts = sorted({0, 1, 4, 8, 16, len(data) // 2, len(data) - 1} | {rng.randrange(1, len(data)) for _ in range(count)})
    return [(f"{name}-trunc-{c}", data[:c]) for c in cuts if c < len(data)][:count]


def bit_flips(name: str, data: bytes, count: int, rng: random.Random, flips: int = 3) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        b = bytearray(data)
        for _ in range(flips):
            pos = rng.randrange(len(b))
            b[pos] ^= 1 << rng.randrange(8)
        out.append((f"{name}-flip-{i}", bytes(b)))
    return out


def byte_garbage(name: str, data: bytes, count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """Overwrite a random window with random bytes (clobbered headers, offsets, varints)."""
    out = []
    for i in range(count):
        b = bytearray(data)
        start = rng.randrange(len(b))
        width = rng.choice([1, 2, 4, 8, 32])
        for j in range(start, min(len(b), start + width)):
            b[j] = rng.randrange(256)
        out.append((f"{name}-garbage-{i}", bytes(b)))
    return out


# -- hand-crafted ONNX ----------------------------------------------------------------


def _onnx_model(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), "hostile", list(inputs), list(outputs), list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def onnx_external_data(path: str) -> bytes:
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 3, 3, 3])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", path), ("offset", "0"), ("length", "432")):
        w.external_data.add(key=k, value=v)
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])
    return _onnx_model([node], [_vi("x", [1, 3, 8, 8])], [_vi("y", None)], [w]).SerializeToString()


def onnx_huge_dims() -> list[tuple[str, bytes]]:
    out = []
    for i, shape in enumerate(([1, 3, 10**9, 10**9], [2**62, 2**62], [10**6] * 8, [1, -5, 3, 3])):
        node = helper.make_node("Relu", ["x"], ["y"])
        m = _onnx_model([node], [_vi("x", shape)], [_vi("y", None)])
        out.append((f"onnx-huge-dims-{i}", m.SerializeToString()))
    # A Reshape to a huge constant shape
    shape = helper.make_tensor("s", TensorProto.INT64, [4], [1, 10**9, 10**9, 10**9])
    node = helper.make_node("Reshape", ["x", "s"], ["y"])
    m = _onnx_model([node], [_vi("x", [1, 4])], [_vi("y", None)], [shape])
    out.append(("onnx-huge-reshape", m.SerializeToString()))
    return out


def onnx_nested_if(depth: int) -> bytes:
    """If nodes nested ``depth`` levels deep in their then-branches."""
    leaf = helper.make_graph([helper.make_node("Identity", ["x"], ["y0"])], "leaf", [], [_vi("y0", [1])])
    inner = leaf
    for level in range(depth):
        cond = helper.make_tensor(f"c{level}", TensorProto.BOOL, [], [True])
        # only the then-branch nests (both nesting would double the size per level)
        node = helper.make_node("If", [f"c{level}"], [f"y{level + 1}"], then_branch=inner, else_branch=leaf)
        inner = helper.make_graph([node], f"g{level}", [], [_vi(f"y{level + 1}", [1])], [cond])
    outer = helper.make_graph(list(inner.node), "hostile", [_vi("x", [1])], list(inner.output), list(inner.initializer))
    return helper.make_model(outer, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def onnx_cycle() -> bytes:
    a = helper.make_node("Add", ["x", "b_out"], ["a_out"], name="a")
    b = helper.make_node("Relu", ["a_out"], ["b_out"], name="b")
    return _onnx_model([a, b], [_vi("x", [1, 4])], [_vi("b_out", [1, 4])]).SerializeToString()


def onnx_self_loop() -> bytes:
    a = helper.make_node("Add", ["x", "y"], ["y"], name="self")
    return _onnx_model([a], [_vi("x", [1, 4])], [_vi("y", [1, 4])]).SerializeToString()


def onnx_contradicting_shapes() -> bytes:
    node = helper.make_node("Add", ["x", "z"], ["y"])
    return _onnx_model([node], [_vi("x", [1, 3]), _vi("z", [1, 5])], [_vi("y", None)]).SerializeToString()


def onnx_many_nodes(count: int) -> bytes:
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(count)]
    return _onnx_model(nodes, [_vi("t0", [1, 4])], [_vi(f"t{count}", [1, 4])]).SerializeToString()


def onnx_bad_opset() -> list[tuple[str, bytes]]:
    node = helper.make_node("Relu", ["x"], ["y"])
    old = _onnx_model([node], [_vi("x", [1, 4])], [_vi("y", [1, 4])], opset=1).SerializeToString()
    unk = helper.make_node("TotallyMadeUp", ["x"], ["y"], domain="evil.domain")
    m = _onnx_model([unk], [_vi("x", [1, 4])], [_vi("y", [1, 4])])
    m.opset_import.append(helper.make_opsetid("evil.domain", 1))
    return [("onnx-opset-1", old), ("onnx-custom-domain", m.SerializeToString())]


def protobuf_bombs() -> list[tuple[str, bytes]]:
    out = []
    # field 7 (graph), length-delimited, declared length 2**40 with nothing behind it
    out.append(("pb-declared-huge-length", b"\x08\x07\x3a" + _varint(2**40) + b"\x00" * 16))
    # deep nesting of length-delimited fields (recursion bomb)
    payload = b""
    for _ in range(3000):
        payload = b"\x3a" + _varint(len(payload)) + payload
    out.append(("pb-deep-nesting", b"\x08\x07" + payload))
    # many repeated empty nodes (cheap bytes, many objects)
    out.append(("pb-many-empty-nodes", b"\x08\x07\x3a" + _varint(2 * 400_000) + b"\x0a\x00" * 400_000))
    # an overlong varint
    out.append(("pb-overlong-varint", b"\x08" + b"\xff" * 20))
    return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def compressed_bombs(onnx_bytes: bytes) -> list[tuple[str, bytes]]:
    zeros = b"\x00" * (64 * 1024 * 1024)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.onnx", onnx_bytes)
        z.writestr("zeros.bin", zeros)
    return [
        ("gzip-zero-bomb", gzip.compress(zeros, compresslevel=9)),
        ("gzip-of-real-onnx", gzip.compress(onnx_bytes)),
        ("zip-with-model-and-bomb", buf.getvalue()),
    ]


def wrong_magic(tflite_bytes: bytes) -> list[tuple[str, bytes]]:
    b = bytearray(tflite_bytes)
    b[4:8] = b"TFL2"
    return [
        ("empty", b""),
        ("one-byte", b"\x08"),
        ("text", b"this is not a model at all\n" * 10),
        ("png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        ("json", b'{"nodes": [1, 2, 3]}'),
        ("tflite-wrong-identifier", bytes(b)),
        ("tflite-magic-only", b"\x00\x00\x00\x00TFL3"),
        ("tflite-magic-then-garbage", b"\x10\x00\x00\x00TFL3" + bytes(range(256)) * 4),
        ("nul-bytes", b"\x00" * 4096),
        ("ff-bytes", b"\xff" * 4096),
    ]


# -- hand-crafted TFLite ---------------------------------------------------------------


def tflite_model(
    shapes: list[list[int]],
    ops: list[tuple[int, list[int], list[int]]],
    *,
    opcodes: list[int] | None = None,
    buffers: int = 1,
    sg_inputs: list[int] | None = None,
    sg_outputs: list[int] | None = None,
) -> bytes:
    """A TFLite flatbuffer with the given tensors (float32) and ops ``(opcode_index, inputs, outputs)``."""
    b = flatbuffers.Builder(1024)
    opcodes = opcodes or [tflite.BuiltinOperator.RELU]

    def ivec(start, values):
        start(b, len(values))
        for v in reversed(values):
            b.PrependInt32(v)
        return b.EndVector()

    tensors = []
    for i, shape in enumerate(shapes):
        name = b.CreateString(f"t{i}")
        shp = ivec(tflite.TensorStartShapeVector, shape)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shp)
        tflite.TensorAddType(b, tflite.TensorType.FLOAT32)
        tflite.TensorAddBuffer(b, 0)
        tflite.TensorAddName(b, name)
        tensors.append(tflite.TensorEnd(b))
    operators = []
    for opcode_index, ins, outs in ops:
        iv = ivec(tflite.OperatorStartInputsVector, ins)
        ov = ivec(tflite.OperatorStartOutputsVector, outs)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, opcode_index)
        tflite.OperatorAddInputs(b, iv)
        tflite.OperatorAddOutputs(b, ov)
        operators.append(tflite.OperatorEnd(b))

    def ovec(start, offsets):
        start(b, len(offsets))
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    tv = ovec(tflite.SubGraphStartTensorsVector, tensors)
    opv = ovec(tflite.SubGraphStartOperatorsVector, operators)
    siv = ivec(tflite.SubGraphStartInputsVector, sg_inputs if sg_inputs is not None else [0])
    sov = ivec(tflite.SubGraphStartOutputsVector, sg_outputs if sg_outputs is not None else [len(shapes) - 1])
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tv)
    tflite.SubGraphAddOperators(b, opv)
    tflite.SubGraphAddInputs(b, siv)
    tflite.SubGraphAddOutputs(b, sov)
    sg = tflite.SubGraphEnd(b)
    codes = []
    for code in opcodes:
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddVersion(b, 1)
        codes.append(tflite.OperatorCodeEnd(b))
    bufs = []
    for _ in range(buffers):
        tflite.BufferStart(b)
        bufs.append(tflite.BufferEnd(b))
    sgv = ovec(tflite.ModelStartSubgraphsVector, [sg])
    cv = ovec(tflite.ModelStartOperatorCodesVector, codes)
    bv = ovec(tflite.ModelStartBuffersVector, bufs)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, cv)
    tflite.ModelAddSubgraphs(b, sgv)
    tflite.ModelAddBuffers(b, bv)
    m = tflite.ModelEnd(b)
    b.Finish(m, file_identifier=b"TFL3")
    return bytes(b.Output())


def tflite_crafted() -> list[tuple[str, bytes]]:
    relu = tflite.BuiltinOperator.RELU
    return [
        ("tflite-ok-relu", tflite_model([[1, 4], [1, 4]], [(0, [0], [1])], opcodes=[relu])),
        ("tflite-huge-dims", tflite_model([[1, 10**9, 10**9, 3], [1, 10**9, 10**9, 3]], [(0, [0], [1])])),
        ("tflite-negative-dims", tflite_model([[1, -7, 3], [1, -7, 3]], [(0, [0], [1])])),
        ("tflite-tensor-index-out-of-range", tflite_model([[1, 4], [1, 4]], [(0, [0], [99])])),
        ("tflite-negative-tensor-index", tflite_model([[1, 4], [1, 4]], [(0, [-5], [1])])),
        ("tflite-opcode-out-of-range", tflite_model([[1, 4], [1, 4]], [(42, [0], [1])])),
        ("tflite-cycle", tflite_model([[1, 4], [1, 4], [1, 4]], [(0, [0, 2], [1]), (0, [1], [2])])),
        ("tflite-self-loop", tflite_model([[1, 4], [1, 4]], [(0, [1], [1])])),
        ("tflite-no-buffers", tflite_model([[1, 4], [1, 4]], [(0, [0], [1])], buffers=0)),
        ("tflite-unknown-builtin", tflite_model([[1, 4], [1, 4]], [(0, [0], [1])], opcodes=[9999])),
        ("tflite-bad-io", tflite_model([[1, 4], [1, 4]], [(0, [0], [1])], sg_inputs=[77], sg_outputs=[-1])),
        (
            "tflite-many-ops",
            tflite_model([[1, 4]] * 2, [(0, [0], [1])] * 300_000),
        ),
    ]


def build_corpus(onnx_bytes: bytes, tflite_bytes: bytes, seed: int = 0) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    corpus: list[tuple[str, bytes]] = []
    for name, data in (("onnx", onnx_bytes), ("tflite", tflite_bytes)):
        corpus += truncations(name, data, 150, rng)
        corpus += bit_flips(name, data, 200, rng)
        corpus += byte_garbage(name, data, 150, rng)
    for path in ("../../etc/passwd", "/etc/passwd", "weights.bin", "C:\\Windows\\win.ini", "file:///etc/shadow"):
        corpus.append((f"onnx-external-{path}", onnx_external_data(path)))
    corpus += onnx_huge_dims()
    corpus += [("onnx-nested-if-10", onnx_nested_if(10)), ("onnx-nested-if-30", onnx_nested_if(30))]
    corpus += [("onnx-cycle", onnx_cycle()), ("onnx-self-loop", onnx_self_loop())]
    corpus += [("onnx-contradicting-shapes", onnx_contradicting_shapes())]
    corpus += [("onnx-300k-nodes", onnx_many_nodes(300_000))]
    corpus += onnx_bad_opset()
    corpus += protobuf_bombs()
    corpus += compressed_bombs(onnx_bytes)
    corpus += wrong_magic(tflite_bytes)
    corpus += tflite_crafted()
    return corpus
