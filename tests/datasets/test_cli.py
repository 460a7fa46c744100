import json

from datasets import corpus
from edgeperf.cli import main


def _rec(space, i, ms, macs):
    return {"arch_id": f"{space}-s0-{i:06d}", "space": space, "variant": "fp32", "device_key": "dev-ort",
            "summary": {"macs": macs}, "measurement": {"median_ms": ms, "runtime": "onnxruntime"}}


def test_stats_json_counts_per_space_and_runtime(tmp_path, capsys):
    corpus.write_shard(tmp_path / "dev-ort" / "vit", [_rec("vit", i, 1.0 + i, 10 * (i + 1)) for i in range(3)])
    corpus.write_shard(tmp_path / "dev-ort" / "nb201", [_rec("nb201", 0, 0.5, 7)])
    assert main(["dataset", "stats", "--json", "--root", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    vit = next(g for g in out["groups"] if g["space"] == "vit")
    assert vit["count"] == 3 and vit["latency_ms"] == {"min": 1.0, "median": 2.0, "max": 3.0}
    assert vit["macs"] == {"min": 10.0, "median": 20.0, "max": 30.0}
    assert out["totals"] == {"onnxruntime": 4}
    assert main(["dataset", "stats", "--root", str(tmp_path)]) == 0
    assert "nb201" in capsys.readouterr().out


def test_stats_count_a_remeasured_architecture_once_by_its_newest_label(tmp_path, capsys):
    cpu = {"runtime": "onnxruntime", "threads": 1, "delegate": "CPUExecutionProvider"}
    old = {**_rec("vit", 0, 9.0, 10), "measurement": {**cpu, "median_ms": 9.0}}  # no CPU times: no label
    new = {**_rec("vit", 0, 9.0, 10), "measurement": {**cpu, "median_ms": 9.0, "cpu_ms": [2.0, 2.0, 2.0]}}
    unlabelled = {**_rec("vit", 1, 5.0, 20), "measurement": {**cpu, "median_ms": 5.0}}
    corpus.write_shard(tmp_path / "dev-ort" / "vit", [old, unlabelled])
    corpus.write_shard(tmp_path / "dev-ort" / "vit", [new])
    assert main(["dataset", "stats", "--json", "--root", str(tmp_path)]) == 0
    [vit] = json.loads(capsys.readouterr().out)["groups"]
    assert vit["count"] == 2 and vit["latency_ms"] == {"min": 2.0, "median": 2.0, "max": 2.0}
    corpus.write_shard(tmp_path / "dev-b" / "nb201", [{**unlabelled, "space": "nb201", "device_key": "dev-b"}])
    assert main(["dataset", "stats", "--root", str(tmp_path)]) == 0
    assert "(no label)" in capsys.readouterr().out


def test_build_writes_specs_and_models(tmp_path):
    out = tmp_path / "build"
    assert main(["dataset", "build", "--space", "nb201,vit", "--count", "1", "--seed", "3", "--out", str(out)]) == 0
    lines = (out / "specs-s3.jsonl").read_text().splitlines()
    assert [json.loads(x)["arch_id"] for x in lines] == ["nb201-s3-000000", "vit-s3-000000"]
    assert (out / "nb201-s3-000000.fp32.onnx").stat().st_size > 1000


def test_bad_arguments_fail_cleanly(tmp_path, capsys):
    assert main(["dataset", "measure", "--runtime", "onnxruntime", "--variants", "int8", "--root", str(tmp_path)]) == 2
    assert "fp32" in capsys.readouterr().err
    try:
        main(["dataset", "build", "--space", "nosuch"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("argparse accepted an unknown space")
