"""ONNX front end on real exports: torch.onnx (TorchScript, several opsets, static and
dynamic axes), the dynamo exporter, weight-stripped and external-data copies, control flow."""

from __future__ import annotations

import pytest
import torch
from onnx import TensorProto, helper

from datasets.zoo import export_onnx
from predictor.frontends import detect_format, load_model
from predictor.graph.ir import IRError
from predictor.graph.limits import Limits
from tests.predictor import model_builders as mb

SHAPE_OPS = {"shape", "gather", "concat", "unsqueeze", "constant_of_shape"}


def assert_data_flow(g) -> None:
    """Every edge carries a tensor; every activation read has its producer edge."""
    produced = {t.name: i for i, n in enumerate(g.nodes) for t in n.outputs}
    edges = set(g.edges)
    for i, j in g.edges:
        assert {t.name for t in g.nodes[i].outputs} & {t.name for t in g.nodes[j].inputs} or \
            g.nodes[i].op in ("if", "loop", "scan")
    for j, n in enumerate(g.nodes):
        for t in n.inputs:
            if t.name in produced and produced[t.name] != j:
                assert (produced[t.name], j) in edges


def test_resnet50_macs_params_and_structure(onnx_resnet50: bytes) -> None:
    g = load_model(onnx_resnet50, filename="resnet50.onnx")
    s = g.summary()
    assert abs(s["macs"] / 4.1e9 - 1) < 0.02
    assert abs(s["params"] / 25.557e6 - 1) < 0.005  # BN folded into conv biases by the exporter
    assert s["op_histogram"]["conv"] == 53 and s["op_histogram"]["fc"] == 1
    assert s["unresolved_tensors"] == 0 and s["unknown_ops"] == 0
    assert s["inputs"] == {"input": [1, 3, 224, 224]} and s["outputs"] == {"output": [1, 1000]}
    assert "identity" not in s["op_histogram"]  # Identity of shared weights folds into a constant
    assert_data_flow(g)
    assert len(g.edges) >= len(g.nodes) - 1


def test_mobilenet_v2_macs_and_depthwise(onnx_mobilenet_v2: bytes) -> None:
    s = load_model(onnx_mobilenet_v2).summary()
    assert abs(s["macs"] / 0.30e9 - 1) < 0.02
    assert s["op_histogram"]["dwconv"] == 17 and s["op_histogram"]["relu6"] == 35


@pytest.mark.parametrize("name,gmacs", [("resnet18", 1.81), ("mobilenet_v3_large", 0.217),
                                        ("vit_tiny_16", 1.26)])
def test_more_zoo_architectures(name: str, gmacs: float) -> None:
    s = load_model(export_onnx(name, opset=17)).summary()
    assert abs(s["macs"] / (gmacs * 1e9) - 1) < 0.02
    assert s["unknown_ops"] == 0 and s["unresolved_tensors"] == 0


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_static_export_at_several_opsets(opset: int) -> None:
    g = load_model(mb.onnx_token_mixer(opset, dynamic=False))
    s = g.summary()
    assert s["unresolved_tensors"] == 0
    assert s["outputs"] == {"output": [1, 4, 32, 32]}
    assert {"conv", "dwconv", "matmul", "softmax", "layernorm", "gelu", "resize"} <= set(s["op_histogram"])
    assert not SHAPE_OPS & set(s["op_histogram"]) - {"concat"}
    grouped = [n for n in g.nodes if n.op == "conv" and n.attrs.get("groups") == 4]
    assert len(grouped) == 1 and grouped[0].macs == 32 * 16 * 16 * 4 * 9
    attn = [n for n in g.nodes if n.op == "matmul"]
    assert [n.macs for n in attn] == [256 * 256 * 32, 256 * 32 * 256]
    assert_data_flow(g)


@pytest.mark.parametrize("opset", [11, 17])
def test_dynamic_axes_resolved_from_input_shapes_with_folding(opset: int) -> None:
    data = mb.onnx_token_mixer(opset, dynamic=True)
    static = load_model(mb.onnx_token_mixer(opset, dynamic=False)).summary()
    g = load_model(data, input_shapes={"input": [1, 3, 32, 32]})
    s = g.summary()
    assert s["unresolved_tensors"] == 0 and s["macs"] == static["macs"]
    assert s["folded_nodes"] > 0
    assert "shape" not in s["op_histogram"] and "gather" not in s["op_histogram"]
    big = load_model(data, input_shapes={"input": [2, 3, 64, 64]}).summary()
    assert big["outputs"]["output"] == [2, 4, 64, 64]
    conv_macs = sum(n.macs for n in g.nodes if n.op in ("conv", "dwconv"))
    big_conv = sum(n.macs for n in load_model(data, input_shapes={"input": [2, 3, 64, 64]}).nodes
                   if n.op in ("conv", "dwconv"))
    assert big_conv == 8 * conv_macs


def test_symbolic_batch_defaults_to_one_and_unknown_dims_are_counted() -> None:
    module = mb.TokenMixer()
    data = export_onnx(module, (1, 3, 32, 32), opset=13, dynamic_axes={"input": {0: "n"}, "output": {0: "n"}})
    s = load_model(data).summary()
    static = load_model(export_onnx(module, (1, 3, 32, 32), opset=13)).summary()
    assert s["inputs"]["input"] == [1, 3, 32, 32] and s["macs"] == static["macs"]
    assert s["unresolved_tensors"] == 0
    s = load_model(mb.onnx_token_mixer(13, dynamic=True)).summary()
    assert s["inputs"]["input"] == [1, 3, -1, -1] and s["unresolved_tensors"] > 0


def test_other_exporter_dynamo_matches_torchscript() -> None:
    module = mb.TokenMixer()
    dyn = load_model(mb.onnx_dynamo(module, (1, 3, 32, 32)))
    ref = load_model(export_onnx(module, (1, 3, 32, 32), opset=17))
    assert dyn.meta["opset"] == 18
    assert dyn.summary()["macs"] == ref.summary()["macs"]
    assert dyn.summary()["unresolved_tensors"] == 0
    assert_data_flow(dyn)


def test_initializer_data_contradicting_its_dims_is_rejected(onnx_mobilenet_v2: bytes) -> None:
    import onnx

    model = onnx.load_from_string(onnx_mobilenet_v2)
    big = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    big.dims[0] += 1
    with pytest.raises(IRError) as err:
        load_model(model.SerializeToString())
    assert err.value.code == "shape_mismatch" and big.name in err.value.message


def test_model_without_weight_data_parses_like_the_full_one(onnx_mobilenet_v2: bytes) -> None:
    stripped = mb.strip_weights(onnx_mobilenet_v2)
    assert len(stripped) < len(onnx_mobilenet_v2) / 50
    full, light = load_model(onnx_mobilenet_v2).summary(), load_model(stripped).summary()
    for key in ("macs", "params", "nodes", "edges", "op_histogram", "outputs"):
        assert light[key] == full[key]


def test_external_data_is_never_read_from_disk(tmp_path) -> None:
    data, blobs = mb.with_external_data(export_onnx("resnet18", opset=13), str(tmp_path))
    with pytest.raises(IRError) as err:
        load_model(data)
    assert err.value.code == "external_data" and "ext.weights" in err.value.message
    g = load_model(data, external_data=blobs)
    assert abs(g.summary()["macs"] / 1.81e9 - 1) < 0.02
    with pytest.raises(IRError) as err:
        load_model(data, external_data={"ext.weights": blobs["ext.weights"][:1000]})
    assert err.value.code == "external_data"


def test_control_flow_is_inlined_not_dropped() -> None:
    g = load_model(mb.onnx_loop_if())
    s = g.summary()
    assert {"loop", "if"} <= set(s["op_histogram"])
    loop = next(i for i, n in enumerate(g.nodes) if n.op == "loop")
    body = [n for n in g.nodes if n.subgraph.endswith("/body")]
    assert body and all(n.attrs.get("trip_count") == 4 for n in body)
    fc = next(n for n in body if n.op == "fc")
    assert fc.macs == 4 * 2 * 8 * 8
    cond = next(n for n in g.nodes if n.op == "if")
    assert set(cond.attrs["branches"]) == {"then_branch", "else_branch"}  # both summarised ...
    assert cond.attrs["branches"]["else_branch"]["ops"] == {"sigmoid": 1}
    inlined = {n.subgraph.rsplit("/", 1)[-1] for n in g.nodes if "/If" in n.subgraph}
    assert inlined == {cond.attrs["inlined_branch"]}  # ... and only the costlier one runs inline
    assert any(i == loop and g.nodes[j].subgraph for i, j in g.edges)


def _tiny(nodes, inputs, outputs, opset=13, inits=(), domain_opsets=()):
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *domain_opsets])
    return model.SerializeToString()


def test_unknown_ops_are_kept_and_counted() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("z", TensorProto.FLOAT, None)
    data = _tiny([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Fancy", ["y"], ["z"], domain="my.ops")],
                 [x], [y], domain_opsets=[helper.make_opsetid("my.ops", 1)])
    g = load_model(data)
    s = g.summary()
    assert s["unknown_ops"] == 1 and s["unknown_op_types"] == {"Fancy": 1} and g.edges == [(0, 1)]


def test_contradicting_shapes_are_rejected() -> None:
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4])
    out = helper.make_tensor_value_info("c", TensorProto.FLOAT, None)
    with pytest.raises(IRError) as err:
        load_model(_tiny([helper.make_node("Add", ["a", "b"], ["c"])], [a, b], [out]))
    assert err.value.code == "shape_mismatch"


def test_bad_input_shapes(onnx_mobilenet_v2: bytes) -> None:
    cases = [({"nope": [1, 3, 224, 224]}, "bad_input_shape"), ({"input": [1, 3, 224]}, "shape_mismatch"),
             ({"input": [1, 4, 224, 224]}, "shape_mismatch"), ({"input": [1, 3, 0, 224]}, "bad_input_shape")]
    for shapes, code in cases:
        with pytest.raises(IRError) as err:
            load_model(onnx_mobilenet_v2, input_shapes=shapes)
        assert err.value.code == code, shapes


def test_old_opset_is_refused() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    with pytest.raises(IRError) as err:
        load_model(_tiny([helper.make_node("Relu", ["x"], ["y"])], [x],
                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], opset=9))
    assert err.value.code == "unsupported_opset"


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_truncated_files_raise(onnx_mobilenet_v2: bytes, cut: float) -> None:
    with pytest.raises(IRError) as err:
        load_model(onnx_mobilenet_v2[: int(len(onnx_mobilenet_v2) * cut)], filename="m.onnx")
    assert err.value.code == "invalid_model"


def test_corrupted_and_non_model_bytes(onnx_mobilenet_v2: bytes) -> None:
    corrupted = bytearray(onnx_mobilenet_v2[:4096])
    corrupted[100:200] = b"\xff" * 100
    for data in (bytes(corrupted), b"hello world, not a model", b"\x08" + bytes(range(256)) * 4, b""):
        with pytest.raises(IRError) as err:
            load_model(data, filename="x.onnx")
        assert err.value.code in ("invalid_model", "unknown_format")
    with pytest.raises(IRError) as err:
        load_model(b"GIF89a....", filename="cat.gif")
    assert err.value.code == "unknown_format"


def test_limits_are_enforced(onnx_mobilenet_v2: bytes) -> None:
    for limits, code in [(Limits(max_file_bytes=1000), "too_large"), (Limits(max_nodes=50), "too_large"),
                         (Limits(max_tensor_elements=100_000), "too_large"), (Limits(max_seconds=0), "timeout")]:
        with pytest.raises(IRError) as err:
            load_model(onnx_mobilenet_v2, limits=limits)
        assert err.value.code == code


def test_detect_format(onnx_mobilenet_v2: bytes) -> None:
    assert detect_format(onnx_mobilenet_v2) == "onnx"
    assert detect_format(b"\x1c\x00\x00\x00TFL3rest") == "tflite"
    with pytest.raises(IRError):
        detect_format(b"%PDF-1.4")


def test_parsed_graph_serialises_as_ir_document(onnx_mobilenet_v2: bytes) -> None:
    import json

    g = load_model(onnx_mobilenet_v2)
    doc = json.loads(json.dumps(g.to_dict()))
    from predictor.graph.ir import Graph

    assert Graph.from_dict(doc).summary() == g.summary()


def test_torch_model_round_trip_reference() -> None:
    """Our conv/fc MACs agree with a direct count over the torch module."""
    module = mb.TokenMixer().eval()
    counted = 0

    def hook(mod, inp, out):
        nonlocal counted
        if isinstance(mod, torch.nn.Conv2d):
            counted += out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, torch.nn.Linear):
            counted += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    with torch.no_grad():
        module(torch.randn(1, 3, 32, 32))
    for h in handles:
        h.remove()
    g = load_model(export_onnx(module, (1, 3, 32, 32), opset=13))
    ours = sum(n.macs for n in g.nodes if n.op in ("conv", "dwconv", "fc"))
    assert ours == int(counted)


@pytest.mark.parametrize("fmt", ["qdq", "qoperator"])
def test_int8_models_from_the_onnxruntime_quantizer(fmt: str, tmp_path) -> None:
    g = load_model(mb.onnx_quantized(fmt, str(tmp_path)))
    s = g.summary()
    float_macs = 32 * 32 * 8 * 27 + 32 * 32 * 8 * 9 + 8 * 32 * 32 * 10
    assert s["macs"] == float_macs and s["quantized"]
    assert s["op_histogram"]["conv"] == 1 and s["op_histogram"]["dwconv"] == 1 and s["op_histogram"]["fc"] == 1
    conv = next(n for n in g.nodes if n.op == "conv")
    if fmt == "qdq":  # weight DequantizeLinear folds into the conv's weight
        assert s["folded_nodes"] >= 3 and conv.attrs["weight_dtype"] == "int8" and conv.weights[0].quantized
        assert all(n.inputs for n in g.nodes if n.op == "dequantize")
    else:
        assert conv.source_op == "QLinearConv" and conv.inputs[0].dtype == "int8"
    assert_data_flow(g)


def test_external_reference_to_an_existing_file_is_not_followed(tmp_path, onnx_mobilenet_v2: bytes) -> None:
    import onnx

    model = onnx.load_from_string(onnx_mobilenet_v2)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 10_000_000)
    t = max(model.graph.initializer, key=lambda x: len(x.raw_data))
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", str(secret)), ("offset", "0"), ("length", "100")):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    with pytest.raises(IRError) as err:
        load_model(model.SerializeToString())
    assert err.value.code == "external_data" and str(secret) in err.value.message


def test_decomposed_layernorm_gelu_and_bias_fuse_the_same_across_exporters() -> None:
    from datasets.zoo import VisionTransformer

    module = VisionTransformer(img=32, patch=16, dim=32, depth=2, heads=2).eval()
    graphs = {"ts13": load_model(export_onnx(module, (1, 3, 32, 32), opset=13)),
              "ts17": load_model(export_onnx(module, (1, 3, 32, 32), opset=17)),
              "dynamo18": load_model(mb.onnx_dynamo(module, (1, 3, 32, 32)))}
    sums = {k: g.summary() for k, g in graphs.items()}
    for k, s in sums.items():
        hist = {op: c for op, c in s["op_histogram"].items() if op != "expand"}  # dynamo folds cls expand
        assert hist["layernorm"] == 5 and hist["gelu"] == 2 and hist["fc"] == 9, k
        assert not {"erf", "pow", "sqrt", "reduce_mean", "div"} & set(hist), k
        assert hist == {op: c for op, c in sums["ts17"]["op_histogram"].items() if op != "expand"}, k
        assert s["macs"] == sums["ts17"]["macs"] and s["params"] == sums["ts17"]["params"], k
        assert_data_flow(graphs[k])
    assert graphs["ts13"].meta["fused_nodes"] > graphs["ts17"].meta["fused_nodes"] > 0
    ln = next(n for n in graphs["ts13"].nodes if n.op == "layernorm")
    assert [w.shape for w in ln.weights] == [[32], [32]] and ln.attrs["fused"][0] == "ReduceMean"
