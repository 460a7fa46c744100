"""TFLite front end on files written by the TFLite converter: float, fp16-weight, int8,
a custom op, control-flow subgraphs, and keras.applications networks."""

from __future__ import annotations

import pytest

from predictor.frontends import load_model
from predictor.graph.ir import IRError
from predictor.graph.limits import Limits
from tests.predictor import model_builders as mb

SMALL_OPS = {"conv": 2, "dwconv": 1, "maxpool": 1, "global_avgpool": 1, "fc": 1, "softmax": 1}


def test_float_model_ops_shapes_and_fused_activations(tflite_small: dict[str, bytes]) -> None:
    g = load_model(tflite_small["float"], filename="small.tflite")
    s = g.summary()
    assert s["format"] == "tflite" and s["op_histogram"] == SMALL_OPS
    assert list(s["inputs"].values()) == [[1, 32, 32, 3]] and list(s["outputs"].values()) == [[1, 10]]
    conv, dw = g.nodes[0], g.nodes[1]
    assert conv.attrs["fused_activation"] == "relu" and dw.attrs["fused_activation"] == "relu6"
    assert conv.attrs["layout"] == "NHWC" and conv.attrs["strides"] == [2, 2]
    assert conv.macs == 16 * 16 * 8 * 3 * 9 and dw.macs == 16 * 16 * 8 * 9
    assert g.edges == [(i, i + 1) for i in range(len(g.nodes) - 1)]
    assert s["unresolved_tensors"] == 0 and not s["quantized"]


def test_fp16_weights_fold_their_dequantize(tflite_small: dict[str, bytes]) -> None:
    ref = load_model(tflite_small["float"]).summary()
    g = load_model(tflite_small["fp16"])
    s = g.summary()
    assert s["op_histogram"] == SMALL_OPS and s["macs"] == ref["macs"]
    assert s["folded_nodes"] >= 4
    assert {n.attrs.get("weight_dtype") for n in g.nodes if n.op in ("conv", "dwconv", "fc")} == {"float16"}


def test_int8_model_is_quantized(tflite_small: dict[str, bytes]) -> None:
    ref = load_model(tflite_small["float"]).summary()
    g = load_model(tflite_small["int8"])
    s = g.summary()
    assert s["op_histogram"] == SMALL_OPS and s["macs"] == ref["macs"] and s["quantized"]
    assert s["input_dtypes"] and set(s["input_dtypes"].values()) == {"int8"}
    conv = g.nodes[0]
    assert conv.weights[0].dtype == "int8" and conv.weights[0].quantized
    assert conv.outputs[0].dtype == "int8" and conv.outputs[0].quantized
    assert conv.bytes_read < ref["bytes_read"]


def test_keras_mobilenet_v2_macs_match_published_and_onnx(tflite_mobilenet_v2: bytes,
                                                          onnx_mobilenet_v2: bytes) -> None:
    s = load_model(tflite_mobilenet_v2).summary()
    assert abs(s["macs"] / 0.30e9 - 1) < 0.02
    assert s["macs"] == load_model(onnx_mobilenet_v2).summary()["macs"]
    assert s["op_histogram"]["dwconv"] == 17 and s["unknown_ops"] == 0


@pytest.mark.slow
def test_keras_resnet50_matches_the_paper(model_cache) -> None:
    """keras ResNet50 is the original v1 (stride in the 1x1 conv): 3.8 GMACs in He et al. 2015."""
    s = load_model(model_cache.get("keras_resnet50.tflite", lambda: mb.tflite_keras_app("ResNet50"))).summary()
    assert abs(s["macs"] / 3.8e9 - 1) < 0.02
    assert s["op_histogram"]["conv"] == 53


def test_custom_op_is_unknown_counted_and_connected(model_cache) -> None:
    g = load_model(model_cache.get("custom.tflite", mb.tflite_custom_op))
    s = g.summary()
    assert s["unknown_op_types"] == {"ExtractImagePatches": 1} and s["unknown_ops"] == 1
    custom = next(i for i, n in enumerate(g.nodes) if n.is_unknown)
    assert any(e[0] == custom for e in g.edges)
    assert g.nodes[custom].outputs[0].shape == [1, 4, 4, 16]


def test_control_flow_subgraphs(model_cache) -> None:
    g = load_model(model_cache.get("control.tflite", mb.tflite_control_flow))
    s = g.summary()
    assert g.meta["subgraphs"] == 5 and {"loop", "if"} <= set(s["op_histogram"])
    loop = next(i for i, n in enumerate(g.nodes) if n.op == "loop")
    body = {j for i, j in g.edges if i == loop and g.nodes[j].subgraph}
    assert body and all(g.nodes[j].subgraph for j in body)
    labels = {n.subgraph.split(":", 1)[1] for n in g.nodes if n.subgraph}
    assert {"while_cond", "while_body"} <= labels
    cond = next(n for n in g.nodes if n.op == "if")
    assert set(cond.attrs["branches"]) == {"then_branch", "else_branch"}  # both summarised,
    assert sum(label.startswith("cond_") for label in labels) == 1  # one branch inlined


def test_batch_dimension_can_change(tflite_small: dict[str, bytes]) -> None:
    name = next(iter(load_model(tflite_small["float"]).summary()["inputs"]))
    s = load_model(tflite_small["float"], input_shapes={name: [4, 32, 32, 3]}).summary()
    assert list(s["outputs"].values()) == [[4, 10]]
    assert s["macs"] == 4 * load_model(tflite_small["float"]).summary()["macs"]
    with pytest.raises(IRError) as err:
        load_model(tflite_small["float"], input_shapes={name: [1, 64, 64, 3]})
    assert err.value.code == "shape_mismatch"
    with pytest.raises(IRError) as err:
        load_model(tflite_small["float"], input_shapes={"nope": [1, 32, 32, 3]})
    assert err.value.code == "bad_input_shape"


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_tflite_raises(tflite_mobilenet_v2: bytes, cut: float) -> None:
    with pytest.raises(IRError) as err:
        load_model(tflite_mobilenet_v2[: int(len(tflite_mobilenet_v2) * cut)])
    assert err.value.code == "invalid_model"


def test_corrupted_tflite_raises_typed_errors_only(tflite_small: dict[str, bytes]) -> None:
    """Overwrite 16-byte windows all over the file: every outcome is a graph or an IRError."""
    data = tflite_small["float"]
    errors = 0
    for start in range(8, len(data) - 16, 23):
        for fill in (b"\xff", b"\x7f"):
            bad = bytearray(data)
            bad[start : start + 16] = fill * 16
            try:
                g = load_model(bytes(bad), limits=Limits(max_seconds=5))
            except IRError as err:
                errors += 1
                assert err.code in ("invalid_model", "shape_mismatch", "too_large", "bad_input_shape")
            else:
                assert g.nodes  # a window inside a weight buffer leaves a valid model
    assert errors > 10
    with pytest.raises(IRError):
        load_model(b"\x00\x00\x00\x00TFL3" + b"\x00" * 4)


def test_limits(tflite_mobilenet_v2: bytes) -> None:
    for limits in (Limits(max_nodes=10), Limits(max_tensor_elements=1000), Limits(max_file_bytes=10_000)):
        with pytest.raises(IRError) as err:
            load_model(tflite_mobilenet_v2, limits=limits)
        assert err.value.code == "too_large"
    with pytest.raises(IRError) as err:
        load_model(tflite_mobilenet_v2, limits=Limits(max_seconds=0))
    assert err.value.code == "timeout"
