from __future__ import annotations

import os

import pytest

from agent.protocol import MeasureError, ProtocolConfig, measure, measure_many
from tests.agent.conftest import QUICK
from tests.agent.models import onnx_mlp


def _check_result(r: dict) -> None:
    assert r["p10_ms"] <= r["median_ms"] <= r["p90_ms"] and r["mad_ms"] >= 0
    assert r["latency_ms"] == r["median_ms"] and 0 < r["low_quantile_ms"] <= 1.05 * r["median_all_ms"]
    assert len(r["samples_ms"]) == sum(r["round_sizes"]) == r["runs"] == len(r["preempted"])
    assert r["rounds"] == len(r["round_sizes"]) >= QUICK.min_rounds
    assert min(r["round_sizes"]) >= QUICK.runs_per_round or r["remeasured"] or r["preempted_fraction"] > 0
    assert r["load_ms"] > 0 and r["first_ms"] > 0 and r["warmup_runs"] >= QUICK.warmup_min_runs
    assert r["energy_mj"] is None or r["energy_sensor"] is not None  # never invented


def test_measure_onnx(onnx_model):
    r = measure(onnx_model, config=QUICK)
    _check_result(r)
    assert r["runtime"] == "onnxruntime" and r["threads"] == 1 and r["input_shapes"] == {"x": [1, 3, 32, 32]}
    assert r["peak_memory_mb"] > 0 and r["memory"]["method"] in ("vmhwm_reset", "peak_since_start")
    assert r["memory"]["runtime_memory"]["arena_peak_in_use_mb"] > 0  # onnxruntime's own figure
    # two sessions, or max_sessions when they disagreed (a busy machine: the protocol adds sessions)
    n = len(r["session_medians_ms"])
    assert n == r["sessions"] and n in (QUICK.sessions, QUICK.max_sessions) and QUICK.sessions == 2
    assert set(r["sessions_of_samples"]) == set(range(n))
    assert r["cpu_corrected"] in (True, False) and len(r["cpu_ms"]) == r["runs"]
    # how busy every CPU was meanwhile (Linux: /proc/stat); the measuring CPU was busy measuring
    assert set(r["cpu_busy"]) == {str(c) for c in range(os.cpu_count())}
    assert all(0.0 <= v <= 1.0 for v in r["cpu_busy"].values()) and max(r["cpu_busy"].values()) > 0.3


def test_measure_litert_with_two_threads(tflite_model):
    one_session = ProtocolConfig(**{**QUICK.__dict__, "sessions": 1})
    r = measure(tflite_model, runtime="litert", threads=2, config=one_session, memory=False)
    _check_result(r)
    assert len(r["session_medians_ms"]) == 1 and r["cpu_ms"] is None  # worker threads: wall times only
    assert r["runtime"] == "litert" and r["threads"] == 2 and r["delegate"] == "xnnpack"
    assert r["peak_memory_mb"] is None


def test_bigger_model_needs_more_memory(model_dir):
    small = measure(onnx_mlp(model_dir / "mlp64.onnx", 64), config=QUICK)
    big = measure(onnx_mlp(model_dir / "mlp1536.onnx", 1536), config=QUICK)
    # three 1536x1536 float32 layers hold ~27 MB of weights
    assert big["peak_memory_mb"] - small["peak_memory_mb"] > 20


def test_unsettled_measurement_is_remeasured_then_flagged(onnx_model):
    never = ProtocolConfig(warmup_s=0.01, runs_per_round=3, min_round_s=0.0, min_rounds=2, max_rounds=2,
                           settle_tolerance=-1.0, max_remeasure=2, remeasure_rounds=1, max_sessions=2)
    r = measure(onnx_model, config=never, memory=False)
    assert r["remeasured"] == 2 and r["rounds"] == 4 and r["contended"]


def test_measure_many_interleaves_and_isolates_failures(onnx_model, onnx_bad, tflite_model):
    results = measure_many([onnx_model, onnx_bad, onnx_model], config=QUICK, memory=False, group_size=2)
    assert [("error" in r) for r in results] == [False, True, False]
    assert results[1]["error"]["code"] == "load_failed" and "FancyOp" in results[1]["error"]["message"]
    for r in (results[0], results[2]):
        _check_result(r)
    shaped = measure_many([onnx_model], input_shapes=[{"x": [2, 3, 32, 32]}], config=QUICK, memory=False)
    assert shaped[0]["input_shapes"] == {"x": [2, 3, 32, 32]}


def test_measure_raises_typed_errors(onnx_bad, tflite_bad, onnx_model):
    with pytest.raises(MeasureError) as info:
        measure(onnx_bad, config=QUICK)
    assert "FancyOp" in info.value.message
    with pytest.raises(MeasureError):
        measure(tflite_bad, runtime="litert", config=QUICK)
    with pytest.raises(MeasureError) as info:
        measure(onnx_model, input_shapes={"x": [1, 3, 99, 99]}, config=QUICK)
    assert info.value.code == "run_failed"
    with pytest.raises(ValueError):
        measure(onnx_model, threads=0, config=QUICK)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this OS")
def test_pinning_is_restored(onnx_model):
    before = os.sched_getaffinity(0)
    r = measure(onnx_model, config=QUICK, memory=False, cpu=sorted(before)[0])
    assert r["cpu_affinity"] == sorted(before)[0] and os.sched_getaffinity(0) == before


def test_config_validation():
    with pytest.raises(ValueError):
        ProtocolConfig(min_rounds=1)
    with pytest.raises(ValueError):
        ProtocolConfig(min_rounds=4, max_rounds=3)
    with pytest.raises(ValueError):
        ProtocolConfig(sessions=3, max_sessions=2)


def test_sessions_that_disagree_get_more_sessions_and_the_rounds_start_again(model_dir):
    path = onnx_mlp(model_dir / "mlp256.onnx", 256)
    never = ProtocolConfig(**{**QUICK.__dict__, "session_tolerance": -1.0, "max_sessions": 4})
    r = measure(path, config=never, memory=False)
    assert r["sessions"] == 4 and not r["sessions_agree"] and len(r["session_medians_ms"]) == 4
    first = r["estimate_from_round"]
    assert first == never.session_check_rounds and r["rounds"] >= first + QUICK.min_rounds
    assert min(r["accepted_rounds"]) >= first
    sizes, sessions = r["round_sizes"], r["sessions_of_samples"]
    before = sum(sizes[:first])
    assert set(sessions[:before]) == {0, 1} and set(sessions[before:]) == {0, 1, 2, 3}  # every session, same rounds
    middle = sorted(r["session_medians_ms"])[1:3]
    assert r["median_ms"] == pytest.approx(sum(middle) / 2)  # the median over sessions
    always = ProtocolConfig(**{**QUICK.__dict__, "session_tolerance": 10.0})
    r = measure(path, config=always, memory=False)
    assert r["sessions"] == 2 and r["sessions_agree"] and set(r["sessions_of_samples"]) == {0, 1}
    assert r["estimate_from_round"] == 0


def test_groups_respect_count_and_file_bytes(tmp_path):
    from agent.protocol import _groups

    paths = []
    for i, size in enumerate([10, 10, 50, 10, 10, 10, 100]):
        paths.append(tmp_path / f"m{i}.onnx")
        paths[-1].write_bytes(b"x" * size)
    assert list(_groups(paths, 3, 1000)) == [(0, 3), (3, 6), (6, 7)]
    assert list(_groups(paths, 5, 1000)) == [(0, 4), (4, 7)]  # balanced, not 5 + 2
    assert list(_groups(paths, 10, 60)) == [(0, 2), (2, 4), (4, 6), (6, 7)]  # the 100-byte file alone
    assert list(_groups([tmp_path / "missing.onnx"], 8, 1)) == [(0, 1)]
