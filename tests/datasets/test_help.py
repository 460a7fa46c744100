import json
from pathlib import Path

import pytest
import torch

from datasets import corpus, help
from predictor.graph.ir import Graph

SOURCE = Path("/work/shared/datasets")
pytestmark = pytest.mark.skipif(not (SOURCE / "help").is_dir(), reason="HELP data not present")


def test_help_index_order_matches_the_nb201_definitions():
    specs = help.arch_specs("nb201", SOURCE)
    ref = json.loads((SOURCE / "nb201_archs" / "nb201_arch_str.json").read_text())["arch_str"]
    assert len(specs) == 15625 and [s["arch"] for s in specs] == ref
    assert all(s["zero_ops"] for s in specs)  # HELP measured the reference implementation's x * 0 edges
    assert len(help.arch_specs("fbnet", SOURCE)) == 5000


def test_import_builds_ir_once_and_joins_latencies(tmp_path):
    out, cache = tmp_path / "help", tmp_path / "cache"
    help.import_latencies(SOURCE, out)
    assert help.build_ir("nb201", SOURCE, out, limit=2, cache=cache) == 2
    assert help.build_ir("nb201", SOURCE, out, limit=2, cache=cache) == 2  # the next two, not the same again
    assert help.build_ir("fbnet", SOURCE, out, limit=1, cache=cache) == 1
    recs = list(help.iter_help_records(out, device_key="help-samsung_s7"))
    assert sorted((r["space"], r["index"]) for r in recs) == [("fbnet", 0)] + [("nb201", i) for i in range(4)]
    # pixel3's 1.06 ms for NB201 #3 (8 ms on the A50, 12 ms on the S7) contradicts every other device
    pixel3 = list(help.iter_help_records(out, device_key="help-pixel3", space="nb201"))
    assert sorted(r["index"] for r in pixel3) == [0, 1, 2]
    src = torch.load(SOURCE / "help/data/nasbench201/latency/samsung_s7.pt")
    nb = [r for r in recs if r["space"] == "nb201"]
    assert all(abs(r["measurement"]["median_ms"] - src[r["index"]]) < 1e-5 for r in nb)
    assert all(Graph.from_dict(r["ir"]).summary()["macs"] == r["summary"]["macs"] > 0 for r in recs)
    gpu = next(help.iter_help_records(out, device_key="help-1080ti_32", space="nb201"))
    assert gpu["measurement"]["batch_size"] == 32
    all_devices = {r["device_key"] for r in corpus.iter_records(root=tmp_path, space="fbnet")}
    assert len(all_devices) == 21


def test_missing_source_is_one_typed_error(tmp_path):
    with pytest.raises(help.HelpImportError):
        help.arch_specs("nb201", tmp_path)
    with pytest.raises(help.HelpImportError):
        help.import_latencies(tmp_path, tmp_path / "out")


def test_values_that_contradict_every_other_device_are_dropped():
    from datasets.help import inconsistent

    base = [1.0, 2.0, 4.0, 8.0, 16.0]
    tables = {"a": base, "b": [2 * v for v in base], "c": [3 * v for v in base],
              "d": [0.5 * v for v in base[:2]] + [0.004, 0.0, 0.5 * 8.0]}
    bad = inconsistent(tables)
    assert bad == {"a": set(), "b": set(), "c": set(), "d": {2, 3}}
