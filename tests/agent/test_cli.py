from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EDGEPERF = str(Path(sys.executable).parent / "edgeperf")
QUICK_ARGS = ["--rounds", "3", "--runs-per-round", "5", "--warmup-s", "0.02"]


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EDGEPERF, "agent", "bench", *args], capture_output=True, text=True, timeout=120)


def test_bench_json(onnx_model):
    done = _bench(str(onnx_model), "--json", "--input-shape", "x=2,3,32,32", "--sessions", "1", *QUICK_ARGS)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in ("median_ms", "p10_ms", "p90_ms", "samples_ms", "load_ms", "first_ms", "peak_memory_mb"):
        assert key in result
    assert result["input_shapes"] == {"x": [2, 3, 32, 32]} and result["peak_memory_mb"] > 0
    assert len(result["session_medians_ms"]) == 1
    assert result["environment"]["device_key"].endswith("-onnxruntime-t1")


def test_bench_table_for_tflite(tflite_model):
    done = _bench(str(tflite_model), "--threads", "2", "--no-memory", *QUICK_ARGS)
    assert done.returncode == 0, done.stderr
    assert "litert" in done.stdout and "median" in done.stdout and "-litert-t2" in done.stdout


def test_bench_bad_inputs(onnx_bad, tmp_path):
    done = _bench(str(onnx_bad))
    assert done.returncode == 1 and "FancyOp" in done.stderr and "Traceback" not in done.stderr
    done = _bench(str(tmp_path / "missing.onnx"))
    assert done.returncode == 2 and "no such file" in done.stderr
    done = _bench(str(onnx_bad), "--input-shape", "x=1,-4")
    assert done.returncode == 2 and "positive" in done.stderr
    done = _bench(str(onnx_bad), "--sessions", "0")
    assert done.returncode != 0 and "sessions must be" in done.stderr and "Traceback" not in done.stderr
