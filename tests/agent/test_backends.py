from __future__ import annotations

import pytest

from agent.backends import BackendError, available, get_backend


def test_both_runtimes_available_here():
    assert set(available()) == {"onnxruntime", "litert"}


def test_onnxruntime_runs_with_default_and_given_shapes(onnx_model):
    backend = get_backend("onnxruntime")
    session = backend.load(str(onnx_model), threads=1, input_shapes=None)
    session.run()
    assert session.input_shapes() == {"x": [1, 3, 32, 32]}
    batch4 = backend.load(str(onnx_model), threads=2, input_shapes={"x": [4, 3, 32, 32]})
    batch4.run()
    assert batch4.input_shapes() == {"x": [4, 3, 32, 32]}
    wrong = backend.load(str(onnx_model), threads=1, input_shapes={"x": [1, 3, 48, 48]})
    with pytest.raises(BackendError) as info:
        wrong.run()  # the model fixes 32x32: the runtime's message comes back
    assert info.value.code == "run_failed" and "dimensions" in info.value.message
    assert backend.version().count(".") >= 1 and backend.delegate == "CPUExecutionProvider"


def test_onnxruntime_session_options_fix_threads():
    opts = get_backend("onnxruntime").options(3)
    assert opts.intra_op_num_threads == 3 and opts.inter_op_num_threads == 1
    assert str(opts.execution_mode).endswith("ORT_SEQUENTIAL")


def test_litert_runs(tflite_model):
    session = get_backend("litert").load(str(tflite_model), threads=1, input_shapes=None)
    session.run()
    assert list(session.input_shapes().values()) == [[1, 32, 32, 3]]


def test_unknown_input_name_is_a_typed_error(onnx_model, tflite_model):
    for runtime, path in (("onnxruntime", onnx_model), ("litert", tflite_model)):
        with pytest.raises(BackendError) as info:
            get_backend(runtime).load(str(path), threads=1, input_shapes={"nope": [1, 2]})
        assert info.value.code == "bad_input_shape"


def test_unsupported_onnx_op_carries_runtime_message(onnx_bad):
    with pytest.raises(BackendError) as info:
        get_backend("onnxruntime").load(str(onnx_bad), threads=1, input_shapes=None)
    assert info.value.code == "load_failed" and "FancyOp" in info.value.message


def test_custom_op_tflite_carries_runtime_message(tflite_bad):
    with pytest.raises(BackendError) as info:
        get_backend("litert").load(str(tflite_bad), threads=1, input_shapes=None)
    assert "Digamma" in info.value.message


def test_unknown_runtime():
    with pytest.raises(BackendError) as info:
        get_backend("tensorrt-on-a-toaster")
    assert info.value.code == "unknown_runtime"


def test_not_a_model_file(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a model")
    for runtime in ("onnxruntime", "litert"):
        with pytest.raises(BackendError):
            get_backend(runtime).load(str(junk), threads=1, input_shapes=None)


def test_runtime_memory_figures(model_dir, tflite_model):
    from tests.agent.models import onnx_mlp

    backend = get_backend("onnxruntime")
    small = backend.load(str(onnx_mlp(model_dir / "mlp64.onnx", 64)), threads=1, input_shapes=None).runtime_memory()
    big = backend.load(str(onnx_mlp(model_dir / "mlp1024.onnx", 1024)), threads=1, input_shapes=None).runtime_memory()
    assert small["source"].startswith("onnxruntime profiler")
    # two 1024x1024 float32 layers (8 MB) are pre-packed into the arena
    assert big["arena_peak_in_use_mb"] - small["arena_peak_in_use_mb"] > 7
    assert big["arena_held_mb"] >= big["arena_peak_in_use_mb"]
    assert get_backend("litert").load(str(tflite_model), threads=1, input_shapes=None).runtime_memory() == {}
