import numpy as np
import onnx
import onnxruntime as ort
import pytest

from datasets import build_torch, spaces
from predictor.frontends import load_model
from tests.datasets import tiny

CASES = {**tiny.PER_SPACE, **{f"dethead-{h}": tiny.dethead(h) for h in ("fpn_det", "fpn_seg", "lraspp")},
         **{f"mixed-{f}": tiny.mixed(f) for f in tiny.MIXED_FAMILIES}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_spec_exports_valid_onnx_that_onnxruntime_runs_and_parses(name):
    spec = CASES[name]
    data = build_torch.to_onnx(spec)
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model)
    assert model.opset_import[0].version == build_torch.OPSET
    net = spaces.netlist(spec)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal(build_torch.input_shape(net)).astype(np.float32)
    (y,) = sess.run(None, {"input": x})
    assert list(y.shape) == build_torch.output_shape(net)
    assert np.isfinite(y).all()
    # the IR front end counts the same MACs as the netlist the model was built from
    s = load_model(data, filename="m.onnx").summary()
    assert s["unknown_ops"] == 0 and s["unresolved_tensors"] == 0
    assert s["macs"] == net.macs()


def test_same_seed_same_weights():
    assert build_torch.to_onnx(tiny.NB201, seed=1) == build_torch.to_onnx(tiny.NB201, seed=1)
    assert build_torch.to_onnx(tiny.NB201, seed=1) != build_torch.to_onnx(tiny.NB201, seed=2)


def test_channel_split_and_shuffle_move_the_channels_as_shufflenet_does():
    import torch

    from datasets.netlist import NetBuilder

    nb = NetBuilder(6, 2, 2)
    net = nb.finish(nb.concat([nb.slice(0, 2, 4), nb.shuffle(nb.slice(0, 0, 4), 2)]))
    x = torch.arange(6.0).view(1, 6, 1, 1).expand(1, 6, 2, 2).contiguous()
    y = build_torch.NetlistModule(net)(x)
    # channels 2..5, then channels 0..3 shuffled in two groups: (0, 1 | 2, 3) -> 0, 2, 1, 3
    assert y[0, :, 0, 0].tolist() == [2, 3, 4, 5, 0, 2, 1, 3]
