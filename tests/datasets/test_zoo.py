"""The zoo of real architectures: shapes faithful to the published models (MACs through the IR,
parameter counts), resolution variants, and ``measure-zoo`` with a real ONNX export and real
onnxruntime on a tiny subset."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from agent.protocol import ProtocolConfig
from datasets import corpus, measure, zoo, zoo_measure
from edgeperf.cli import main
from predictor.frontends import load_model
from predictor.graph.ir import Graph

#: exports of more than a few seconds (hundreds of MB of weights, or 900-node graphs)
SLOW = {"vgg11", "alexnet", "wide_resnet50_2", "resnet101", "swin_t"}
QUICK = ProtocolConfig(warmup_s=0.02, warmup_min_runs=1, runs_per_round=3, min_round_s=0.01, max_round_s=0.2,
                       min_rounds=2, max_rounds=2, max_remeasure=0, memory_runs=1, sessions=1)


def _summary(name: str, res: int) -> dict:
    return load_model(zoo.export_onnx(name, (1, 3, res, res))).summary()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in zoo.CATALOG])
def test_macs_and_params_match_the_published_figures(name: str) -> None:
    m = zoo.CATALOG[name]
    s = _summary(name, m.resolution)
    # 3%, or half the last digit of figures published with two decimals (MNASNet 0.5: "0.10")
    assert abs(s["macs"] / 1e9 - m.gmacs) <= max(0.03 * m.gmacs, 0.005), s["macs"]
    params = sum(p.numel() for p in zoo.build(name, m.resolution).parameters()) / 1e6
    assert abs(params - m.mparams) <= max(0.015 * m.mparams, 0.005), params
    assert s["unknown_ops"] == 0 and s["unresolved_tensors"] == 0
    assert s["inputs"] == {"input": [1, 3, m.resolution, m.resolution]} and s["outputs"] == {"output": [1, 1000]}


def test_catalog_structure_details() -> None:
    g = load_model(zoo.export_onnx("shufflenet_v2_x0_5")).summary()["op_histogram"]
    assert g["dwconv"] == 16 + 3  # one per unit, two in the 3 downsampling units
    assert g["slice"] == 2 * 13 and g["transpose"] == 16  # channel split of the 13 stride-1 units; shuffles
    rx = {n.attrs.get("groups") for n in load_model(zoo.export_onnx("resnext50_32x4d")).nodes if n.op == "conv"}
    assert 32 in rx
    dn = load_model(zoo.export_onnx("densenet121")).summary()["op_histogram"]
    assert dn["conv"] == 120 and dn["concat"] == 58 + 4
    assert dn["batchnorm"] == 58 + 3 + 1  # pre-activation BNs cannot fold into a conv; the others do
    assert sum(1 for _ in zoo.build("swin_t").modules() if isinstance(_, zoo.ShiftedWindowAttention)) == 12


@pytest.mark.slow
def test_resolution_variants_scale_with_the_pixel_count() -> None:
    for name, resolutions in zoo.RESOLUTION_VARIANTS.items():
        m = zoo.CATALOG[name]
        for r in resolutions:
            s = _summary(name, r)
            ratio = s["macs"] / (m.gmacs * 1e9 * (r / m.resolution) ** 2)
            assert 0.9 < ratio < 1.06, (name, r, ratio)  # ViT-Ti: fewer tokens, attention falls quadratically
            assert s["inputs"] == {"input": [1, 3, r, r]} and s["unresolved_tensors"] == 0


def test_entries_are_unique_and_named_by_resolution() -> None:
    ids = [zoo.arch_id(n, r) for n, r in zoo.ENTRIES]
    assert len(ids) == len(set(ids)) >= 45 and len(zoo.CATALOG) >= 35
    assert ids[0] == "zoo-resnet18-224" and "zoo-efficientnet_b1-240" in ids and "zoo-mobilenet_v2-160" in ids
    assert zoo.build("vit_tiny_16", 160).pos_embed.shape[1] == 101


def test_families_group_the_variants_of_one_design() -> None:
    fams = {n: zoo.family(n) for n in zoo.CATALOG}
    assert fams["resnet18"] == fams["wide_resnet50_2"] == fams["resnext50_32x4d"] == "resnet"
    assert fams["mobilenet_v2_050"] == "mobilenet_v2" != fams["mobilenet_v3_small"] == "mobilenet_v3"
    assert all(zoo.parse_arch_id(zoo.arch_id(n, r)) == (n, r) for n, r in zoo.ENTRIES)
    assert zoo.family("zoo-efficientnet_b1-240") == "efficientnet" and zoo.family("zoo-vit_tiny_16-160") == "vit"
    assert 10 <= len(set(fams.values())) < len(fams)
    with pytest.raises(KeyError, match="no family for 'lenet'"):
        zoo.family("lenet")


def test_a_zoo_spec_builds_through_the_corpus_builder() -> None:
    data = measure.build_model({"space": "zoo", "name": "squeezenet1_1", "resolution": 160}, "onnx", "fp32")
    assert load_model(data).summary() == _summary("squeezenet1_1", 160)
    with pytest.raises(measure.MeasureRunError, match="ONNX fp32 only"):
        measure.build_model({"space": "zoo", "name": "squeezenet1_1", "resolution": 160}, "tflite", "fp32")


@pytest.mark.parametrize("name", ["squeezenet1_1", "shufflenet_v2_x0_5", "mnasnet0_5", "regnet_y_400mf"])
def test_onnx_export_computes_what_torch_computes(name: str) -> None:
    import onnxruntime as ort

    x = torch.randn(1, 3, 160, 160)
    module = zoo.build(name, 160)
    sess = ort.InferenceSession(zoo.export_onnx(module, (1, 3, 160, 160)), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = module(x).numpy()
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], want, rtol=1e-3, atol=1e-5)


def test_select_names_and_resolutions() -> None:
    assert [e[1:] for e in zoo_measure.select(["mobilenet_v2"])] == [
        ("mobilenet_v2", 224), ("mobilenet_v2", 128), ("mobilenet_v2", 160), ("mobilenet_v2", 192)]
    picked = zoo_measure.select(["resnet18@160", "alexnet"])
    assert [e[1:] for e in picked] == [("alexnet", 224), ("resnet18", 160)]  # ENTRIES order
    assert all(zoo.ENTRIES[i] == (n, r) for i, n, r in picked)
    with pytest.raises(zoo_measure.ZooRunError, match="listed: resnet18@224"):
        zoo_measure.select(["resnet18@999"])
    with pytest.raises(zoo_measure.ZooRunError, match="known names"):
        zoo_measure.select(["lenet"])


def test_measure_zoo_writes_corpus_records_and_resumes(tmp_path) -> None:
    root, cache, log = tmp_path / "corpus", tmp_path / "cache", io.StringIO()
    names = ["squeezenet1_1@160", "mobilenet_v3_small@160"]
    out = zoo_measure.run(names=names, root=root, cache=cache, config=QUICK, passes=2, progress_stream=log)
    assert (out["new"], out["failed"], out["already"]) == (2, 0, 0)
    key = out["device_key"]
    recs = {r["arch_id"]: r for r in corpus.iter_records(key, "zoo", root=root, include_help=False)}
    assert set(recs) == {"zoo-squeezenet1_1-160", "zoo-mobilenet_v3_small-160"}
    assert len(list((root / key / "zoo").glob("part-*.jsonl.gz"))) == 1 and (root / key / "device.json").exists()
    r = recs["zoo-squeezenet1_1-160"]
    assert r["spec"] == {"space": "zoo", "name": "squeezenet1_1", "resolution": 160}
    assert (r["space"], r["variant"], r["format"], r["device_key"]) == ("zoo", "fp32", "onnx", key)
    assert zoo.ENTRIES[r["index"]] == ("squeezenet1_1", 160)
    assert abs(r["summary"]["macs"] - 170.7e6) < 1e6 and r["summary"]["inputs"] == {"input": [1, 3, 160, 160]}
    assert Graph.from_dict(r["ir"]).summary()["macs"] == r["summary"]["macs"]
    m = r["measurement"]
    assert m["median_ms"] > 0 and m["peak_memory_mb"] > 0 and m["runtime"] == "onnxruntime" and m["threads"] == 1
    assert len(m["samples_ms"]) >= 2 and "path" not in m and "protocol" not in m
    assert len(m["passes_median_ms"]) == 2 and corpus.latency_label_ms(m) == pytest.approx(min(m["passes_label_ms"]), abs=1e-3)
    assert len(m["passes_peak_memory_mb"]) == 2
    # model files deleted once measured; the drift reference's are kept, and measured in every pass
    refs = measure.reference_models("onnxruntime", ("fp32",), cache / "models")
    assert sorted((cache / "models").rglob("*.onnx")) == sorted(path for _, path in refs)
    ref = m["drift_reference"]
    assert ref["set"] == measure.REFERENCE_SET and sorted(ref["labels_ms"]) == sorted(n for n, _ in refs)
    assert all(len(v) == 2 and min(v) > 0 for v in ref["labels_ms"].values())
    assert m["measured_at"][:2] == "20" and m["measured_at"][8] == "T"
    assert "squeezenet1_1" in log.getvalue() and "latency_ms" in log.getvalue()

    again = zoo_measure.run(names=["squeezenet1_1"], root=root, cache=cache, config=QUICK, limit=0,
                            progress_stream=None)
    assert (again["selected"], again["already"], again["new"]) == (2, 1, 0)
    # --again: measured anew; the newer record is the one read
    fresh = zoo_measure.run(names=["squeezenet1_1@160"], root=root, cache=cache, config=QUICK, passes=1,
                            progress_stream=None, again=True, memory=False)
    assert (fresh["already"], fresh["new"]) == (0, 1)
    newest = {r["arch_id"]: r for r in corpus.iter_records(key, "zoo", root=root, include_help=False)}
    assert len(newest["zoo-squeezenet1_1-160"]["measurement"]["passes_label_ms"]) == 1


def test_combine_keeps_the_fastest_pass_and_the_median_peak_memory() -> None:
    def one(median: float, cpu: list[float], peak: float) -> dict:
        return {"median_ms": median, "cpu_ms": cpu, "sessions_of_samples": [0] * len(cpu), "threads": 1,
                "delegate": "CPUExecutionProvider", "peak_memory_mb": peak, "path": "a", "protocol": {}}

    # chosen by the label training reads (CPU-time quantile), not by the wall-time median
    m = zoo_measure.combine([one(5.0, [5.0] * 4, 40.0), one(3.0, [4.0] * 4, 60.0), one(4.0, [2.0] * 4, 50.0)])
    assert m["median_ms"] == 4.0 and m["cpu_ms"] == [2.0] * 4
    assert m["passes_label_ms"] == [5.0, 4.0, 2.0] and m["passes_median_ms"] == [5.0, 3.0, 4.0]
    assert m["peak_memory_mb"] == 50.0 and "path" not in m and "protocol" not in m
    assert zoo_measure.combine([{"median_ms": 1.0, "peak_memory_mb": None}])["peak_memory_mb"] is None


def test_measure_zoo_cli_refuses_unknown_names(tmp_path, capsys) -> None:
    # LiteRT reads the Keras catalog (datasets.zoo_keras), which has no ResNet-18
    assert main(["dataset", "measure-zoo", "--runtime", "litert", "--names", "resnet18", "--root", str(tmp_path)]) == 2
    assert "no zoo entry 'resnet18'; known names: mobilenet_v1" in capsys.readouterr().err
    assert main(["dataset", "measure-zoo", "--names", "resnet18,lenet", "--root", str(tmp_path)]) == 2
    assert "lenet" in capsys.readouterr().err
