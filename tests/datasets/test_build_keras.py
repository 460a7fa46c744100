import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from datasets import build_keras, build_torch, spaces
from predictor.frontends import load_model
from tests.datasets import tiny

pytestmark = pytest.mark.slow


def _run(data: bytes):
    it = Interpreter(model_content=data, num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    it.invoke()
    return it, inp, out, it.get_tensor(out["index"])


@pytest.mark.parametrize("space", sorted(tiny.PER_SPACE))
def test_spec_converts_to_tflite_that_litert_runs_with_the_torch_shapes(space):
    spec = tiny.PER_SPACE[space]
    net = spaces.netlist(spec)
    _, inp, _, y = _run(build_keras.to_tflite(spec))
    assert list(inp["shape"]) == build_keras.input_shape(net)
    assert list(y.shape) == build_keras.output_shape(net)
    torch_shape = build_torch.output_shape(net)
    if len(torch_shape) == 4:  # NCHW there, NHWC here
        torch_shape = [torch_shape[0], *torch_shape[2:], torch_shape[1]]
    assert list(y.shape) == torch_shape


def test_int8_tflite_is_fully_quantized():
    spec = tiny.RESNET
    data = build_keras.to_tflite(spec, int8=True)
    it, inp, out, y = _run(data)
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    assert list(y.shape) == build_keras.output_shape(spaces.netlist(spec))
    kernels = [t for t in it.get_tensor_details() if len(t["shape"]) == 4 and t["name"].lower().find("conv") >= 0]
    float_tensors = [t["name"] for t in it.get_tensor_details() if t["dtype"] == np.float32]
    assert kernels and all(t["dtype"] in (np.int8, np.int32) for t in kernels)
    assert float_tensors == []
    g = load_model(data, filename="m.tflite")
    assert g.summary()["quantized"] is True
    assert len(data) < 0.5 * len(build_keras.to_tflite(spec))


def test_tflite_ir_counts_the_netlist_macs():
    spec = tiny.MOBILENET
    g = load_model(build_keras.to_tflite(spec), filename="m.tflite")
    s = g.summary()
    assert s["unknown_ops"] == 0
    assert s["macs"] == spaces.netlist(spec).macs()


def test_keras_channel_split_and_shuffle_match_the_torch_builder():
    import keras

    from datasets.netlist import NetBuilder

    nb = NetBuilder(6, 2, 2)
    net = nb.finish(nb.concat([nb.slice(0, 2, 4), nb.shuffle(nb.slice(0, 0, 4), 2)]))
    inp = keras.Input(shape=(2, 2, 6), batch_size=1)
    vals = [inp]
    for layer in net.layers[1:]:
        xs = [vals[j] for j in layer["in"]]
        vals.append(build_keras._layer(layer, net.shapes)(xs if len(xs) > 1 else xs[0]))
    model = keras.Model(inp, vals[net.output])
    x = np.broadcast_to(np.arange(6.0, dtype=np.float32), (1, 2, 2, 6))
    y = np.asarray(model(x))
    assert y[0, 0, 0].tolist() == [2, 3, 4, 5, 0, 2, 1, 3]  # as tests/datasets/test_build_torch.py


@pytest.mark.parametrize("family", tiny.MIXED_FAMILIES)
def test_every_mixed_family_converts_and_litert_runs_it(family):
    spec = tiny.mixed(family)
    _, _, _, y = _run(build_keras.to_tflite(spec))
    assert list(y.shape) == build_keras.output_shape(spaces.netlist(spec))
    g = load_model(build_keras.to_tflite(spec), filename="m.tflite")
    assert g.summary()["unknown_ops"] == 0 and g.summary()["macs"] == spaces.netlist(spec).macs()
