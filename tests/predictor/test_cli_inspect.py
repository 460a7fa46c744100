"""``edgeperf inspect`` on real model files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from datasets.zoo import export_onnx
from edgeperf.cli import main
from tests.predictor import model_builders as mb


@pytest.fixture(scope="module")
def dynamic_onnx(model_cache) -> Path:
    return model_cache.path("mixer_dynamic.onnx", lambda: mb.onnx_token_mixer(13, dynamic=True))


def test_inspect_json_with_input_shape(dynamic_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["inspect", str(dynamic_onnx), "--input-shape", "input=2,3,64,64", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["inputs"] == {"input": [2, 3, 64, 64]} and out["outputs"]["output"] == [2, 4, 64, 64]
    assert out["macs"] > 0 and out["unresolved_tensors"] == 0 and out["folded_nodes"] > 0
    assert out["op_histogram"]["matmul"] == 2


def test_inspect_text_lists_ops_and_unknowns(model_cache, capsys: pytest.CaptureFixture[str]) -> None:
    path = model_cache.path("custom.tflite", mb.tflite_custom_op)
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "(tflite)" in text and "unknown ops: 1 (ExtractImagePatches x1)" in text
    assert "unknown:ExtractImagePatches" in text and "MACs:" in text


def test_inspect_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], onnx_mobilenet_v2: bytes) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(onnx_mobilenet_v2[:5000])
    assert main(["inspect", str(bad), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "invalid_model" and "truncated" in captured.err
    assert main(["inspect", str(tmp_path / "missing.onnx")]) == 2
    with pytest.raises(SystemExit):
        main(["inspect", str(bad), "--input-shape", "input=a,b"])


def test_inspect_as_a_process(model_cache) -> None:
    path = model_cache.path("mobilenet_v2.onnx", lambda: export_onnx("mobilenet_v2", opset=13))
    proc = subprocess.run([sys.executable, "-m", "edgeperf.cli", "inspect", str(path), "--nodes"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "dwconv" in proc.stdout and "MACs:     300.774M" in proc.stdout
