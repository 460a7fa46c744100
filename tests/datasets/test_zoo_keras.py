"""The TFLite zoo (``keras.applications`` converted by the real TFLite converter): costs through
the TFLite front end against the published figures, the file computing what Keras computes (real
LiteRT), and ``measure-zoo --runtime litert`` writing corpus records."""

from __future__ import annotations

import io

import numpy as np
import pytest

from agent.protocol import ProtocolConfig
from datasets import corpus, measure, zoo, zoo_keras, zoo_measure
from predictor.frontends import load_model
from predictor.graph.ir import Graph

#: the small ones (2-5 s each); every entry's costs are in bench/results/zoo-keras-costs.txt
QUICK_CHECK = ["mobilenet_v1_050", "mobilenet_v2_050", "mobilenet_v3_small", "efficientnet_b0"]
QUICK = ProtocolConfig(warmup_s=0.02, warmup_min_runs=1, runs_per_round=3, min_round_s=0.01, max_round_s=0.2,
                       min_rounds=2, max_rounds=2, max_remeasure=0, memory_runs=1, sessions=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", QUICK_CHECK)
def test_tflite_costs_match_the_published_figures(name: str) -> None:
    m = zoo_keras.CATALOG[name]
    s = load_model(zoo_keras.export_tflite(name), filename=f"{name}.tflite").summary()
    assert abs(s["macs"] / 1e9 - m.gmacs) <= max(0.03 * m.gmacs, 0.005), s["macs"]
    assert abs(s["params"] / 1e6 - m.mparams) <= 0.02 * m.mparams, s["params"]
    assert s["unknown_ops"] == 0 and s["unresolved_tensors"] == 0
    assert s["inputs"] == {"input": [1, m.resolution, m.resolution, 3]}
    assert list(s["outputs"].values()) == [[1, 1000]]


def test_catalog_names_families_and_entries() -> None:
    ids = [zoo.arch_id(n, r) for n, r in zoo_keras.ENTRIES]
    assert len(ids) == len(set(ids)) >= 25 and "zoo-efficientnet_b2-260" in ids and "zoo-mobilenet_v2-128" in ids
    fams = {n: zoo.family(n) for n in zoo_keras.CATALOG}  # every name has a family
    assert fams["resnet50_v2"] == "resnet" and fams["mobilenet_v3_large_minimalistic"] == "mobilenet_v3"
    assert fams["mobilenet_v1_050"] == "mobilenet_v1" and fams["inception_v3"] == "inception"
    shared = set(zoo_keras.CATALOG) & set(zoo.CATALOG)  # same designs under the same names
    assert {"mobilenet_v2", "resnet50", "densenet121", "efficientnet_b0", "convnext_tiny"} <= shared
    assert all(zoo_keras.CATALOG[n].gmacs is None or abs(zoo_keras.CATALOG[n].gmacs / zoo.CATALOG[n].gmacs - 1) < 0.06
               for n in shared if zoo_keras.CATALOG[n].resolution == zoo.CATALOG[n].resolution)
    with pytest.raises(KeyError, match="unknown Keras zoo architecture 'lenet'"):
        zoo_keras.build("lenet")


def test_the_tflite_file_computes_what_keras_computes() -> None:
    from ai_edge_litert.interpreter import Interpreter

    model = zoo_keras.build("mobilenet_v1_050", 128)
    data = measure.build_model(zoo_keras.spec_of("mobilenet_v1_050", 128), "tflite", "fp32")
    x = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    want = np.asarray(model(x, training=False))
    interp = Interpreter(model_content=data)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    got = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
    with pytest.raises(measure.MeasureRunError, match="TFLite fp32 or int8, not onnx fp32"):
        measure.build_model(zoo_keras.spec_of("mobilenet_v1_050", 128), "onnx", "fp32")
    with pytest.raises(measure.MeasureRunError, match="ONNX fp32 only, not onnx int8"):
        measure.build_model(zoo.spec_of("squeezenet1_1", 224), "onnx", "int8")


def test_select_reads_the_runtimes_catalog() -> None:
    assert [e[1:] for e in zoo_measure.select(["resnet50"], "litert")] == [("resnet50", 224), ("resnet50", 160)]
    assert all(zoo_keras.ENTRIES[i] == (n, r) for i, n, r in zoo_measure.select(None, "litert"))
    with pytest.raises(zoo_measure.ZooRunError, match="known names"):
        zoo_measure.select(["squeezenet1_1"], "litert")  # a torch zoo network has no Keras definition here
    with pytest.raises(zoo_measure.ZooRunError, match="no zoo for runtime 'tvm'"):
        zoo_measure.select(None, "tvm")


def test_measure_zoo_on_litert_writes_tflite_records(tmp_path) -> None:
    root, cache, log = tmp_path / "corpus", tmp_path / "cache", io.StringIO()
    out = zoo_measure.run("litert", names=["mobilenet_v3_small@160"], root=root, cache=cache, config=QUICK,
                          passes=2, progress_stream=log)
    assert (out["new"], out["failed"], out["already"]) == (1, 0, 0)
    key = out["device_key"]
    assert "litert" in key
    [r] = list(corpus.iter_records(key, "zoo", root=root, include_help=False))
    assert r["arch_id"] == "zoo-mobilenet_v3_small-160" and zoo_keras.ENTRIES[r["index"]] == ("mobilenet_v3_small", 160)
    assert r["spec"] == {"space": "zoo", "name": "mobilenet_v3_small", "resolution": 160, "source": "keras"}
    assert (r["variant"], r["format"]) == ("fp32", "tflite")
    assert r["summary"]["inputs"] == {"input": [1, 160, 160, 3]} and 25e6 < r["summary"]["macs"] < 35e6
    assert Graph.from_dict(r["ir"]).summary()["macs"] == r["summary"]["macs"]
    m = r["measurement"]
    assert m["runtime"] == "litert" and m["median_ms"] > 0 and m["peak_memory_mb"] > 0
    assert len(m["passes_label_ms"]) == 2 and m["drift_reference"]["labels_ms"]
    assert not list((cache / "models" / "zoo").glob("*.tflite"))  # deleted once measured
    again = zoo_measure.run("litert", names=["mobilenet_v3_small@160"], root=root, cache=cache, config=QUICK,
                            passes=1, progress_stream=None)
    assert (again["new"], again["already"]) == (0, 1)


def test_measure_zoo_int8_writes_the_quantised_network(tmp_path) -> None:
    """``--variants int8``: the same Keras network full-integer quantised, a record of variant int8 beside
    (not instead of) the fp32 one; onnxruntime's zoo has no int8 build and says so."""
    root, cache = tmp_path / "corpus", tmp_path / "cache"
    out = zoo_measure.run("litert", names=["mobilenet_v3_small@160"], root=root, cache=cache, config=QUICK,
                          passes=1, progress_stream=None, variants=["int8"])
    assert (out["new"], out["failed"]) == (1, 0)
    [r] = list(corpus.iter_records(out["device_key"], "zoo", root=root, include_help=False))
    assert (r["arch_id"], r["variant"], r["format"]) == ("zoo-mobilenet_v3_small-160", "int8", "tflite")
    nodes = Graph.from_dict(r["ir"]).nodes
    convs = [n for n in nodes if n.op in ("conv", "dwconv")]
    assert convs and all(t.dtype == "int8" and t.quantized for n in convs for t in (*n.inputs, n.weights[0]))
    fp32 = load_model(zoo_keras.export_tflite("mobilenet_v3_small", 160), filename="m.tflite").summary()
    assert r["summary"]["macs"] == fp32["macs"] and r["summary"]["params"] == fp32["params"]
    assert r["measurement"]["median_ms"] > 0
    both = zoo_measure.run("litert", names=["mobilenet_v3_small@160"], root=root, cache=cache, config=QUICK,
                           passes=1, progress_stream=None, variants=["fp32", "int8"], limit=0)
    assert (both["selected"], both["already"]) == (2, 1)  # the fp32 network is still to measure
    with pytest.raises(zoo_measure.ZooRunError, match="onnxruntime zoo is built as fp32, not int8"):
        zoo_measure.run("onnxruntime", names=["squeezenet1_1"], root=root, cache=cache, variants=["int8"])
