import numpy as np
import onnx
import onnxruntime as ort
import pytest

from datasets import build_torch, spaces
from predictor.frontends import load_model
from tests.datasets import tiny

CASES = {**tiny.PER_SPACE, **{f"dethead-{h}": tiny.dethead(h) for h in ("fpn_det", "fpn_seg", "lraspp")}}


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
