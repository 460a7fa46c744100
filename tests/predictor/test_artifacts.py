"""Checkpoints (weights_only round trip) and the Predictor API."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from predictor.artifacts import (
    CheckpointError,
    PredictionError,
    load_checkpoint,
    load_default_predictors,
    save_checkpoint,
)
from predictor.features import FEATURE_SCHEMA_VERSION
from predictor.train import TrainConfig, build_table, train_predictor
from tests.predictor.test_features import chain_graph, synthetic_records


@pytest.fixture(scope="module")
def predictor():
    table = build_table(synthetic_records(60, seed=3, with_energy=("slow",)))
    cfg = TrainConfig(min_steps=0, hidden_channels=8, num_layers=1, embed_channels=4, ensemble=2, epochs=3, batch_size=32)
    return train_predictor(table, cfg, name="tiny")


def test_round_trip_gives_identical_predictions(predictor, tmp_path):
    path = save_checkpoint(predictor, tmp_path / "tiny.pt")
    blob = torch.load(path, weights_only=True)  # no pickled objects
    meta = json.loads(blob["meta"])
    assert meta["feature_schema_version"] == FEATURE_SCHEMA_VERSION
    assert meta["devices"] == ["fast", "slow"] and meta["targets"] == ["latency", "energy"]
    assert {"config", "train_config", "metrics", "normalisation", "training_data"} <= set(meta)
    loaded = load_checkpoint(path)
    graphs = [chain_graph(5, 8), chain_graph(11, 16)]
    assert loaded.predict(graphs, ["fast", "slow"]) == predictor.predict(graphs, ["fast", "slow"])


def test_predict_values_intervals_breakdown_and_unavailable_targets(predictor):
    g = chain_graph(9, 16)
    [res] = predictor.predict([g], ["fast", "slow"], breakdown=True)
    lat = res["predictions"]["fast"]["latency"]
    assert lat["available"] and lat["unit"] == "ms"
    assert lat["interval90"][0] < lat["value"] < lat["interval90"][1]
    assert res["predictions"]["fast"]["energy"] == {"available": False, "value": None, "interval90": None,
                                                    "unit": "mJ"}
    assert res["predictions"]["slow"]["energy"]["available"]
    parts = res["breakdown"]["slow"]["latency"]
    assert list(parts) == [n.name for n in g.nodes]
    assert sum(parts.values()) == pytest.approx(res["predictions"]["slow"]["latency"]["value"], rel=1e-5)
    assert "energy" not in res["breakdown"]["fast"]


def test_batched_prediction_matches_single(predictor):
    graphs = [chain_graph(n, 8) for n in range(3, 40, 3)]
    batched = predictor.predict(graphs, ["slow"], batch_size=5)
    single = [predictor.predict([g], ["slow"])[0] for g in graphs]
    for a, b in zip(batched, single, strict=True):
        assert a["predictions"]["slow"]["latency"]["value"] == pytest.approx(
            b["predictions"]["slow"]["latency"]["value"], rel=1e-5)


def test_unknown_device_or_target_is_a_typed_error(predictor):
    with pytest.raises(PredictionError):
        predictor.predict([chain_graph(3, 4)], ["no-such-device"])
    with pytest.raises(PredictionError):
        predictor.predict([chain_graph(3, 4)], ["fast"], targets=["throughput"])


def test_bad_checkpoints_raise_checkpoint_error(predictor, tmp_path):
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "garbage.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "missing.pt")
    path = save_checkpoint(predictor, tmp_path / "old.pt")
    blob = torch.load(path, weights_only=True)
    meta = json.loads(blob["meta"])
    meta["feature_schema_version"] = FEATURE_SCHEMA_VERSION + 1
    blob["meta"] = json.dumps(meta)
    torch.save(blob, path)
    with pytest.raises(CheckpointError, match="feature schema"):
        load_checkpoint(path)


def test_load_default_predictors_skips_broken_files(predictor, tmp_path):
    save_checkpoint(predictor, tmp_path / "good.pt")
    (tmp_path / "broken.pt").write_bytes(b"\x00\x01")
    loaded = load_default_predictors(tmp_path)
    assert list(loaded) == ["good"]
    assert np.array_equal(loaded["good"].available, predictor.available)


def test_shipped_checkpoints_load():
    for name, p in load_default_predictors().items():
        [res] = p.predict([chain_graph(6, 16)], p.devices[:1])
        lat = res["predictions"][p.devices[0]]["latency"]
        assert lat["value"] > 0, name


def test_collate_matches_pyg_batch():
    from torch_geometric.data import Batch

    from predictor.artifacts import collate
    from predictor.features import featurize

    data = [featurize(chain_graph(n, 4 + n)) for n in (1, 5, 3, 8)]
    x, edge_index, batch, graph_attr = collate(data)
    ref = Batch.from_data_list(data, exclude_keys=["node_names"])
    assert torch.equal(x, ref.x)
    assert torch.equal(edge_index, ref.edge_index)
    assert torch.equal(batch, ref.batch)
    assert torch.equal(graph_attr, ref.graph_attr)


def test_predict_log_equals_each_member_forward_on_the_edge_list():
    """The shipped checkpoints through Predictor.predict_log (shared adjacency, IR documents
    featurised in one batch) against every member's plain forward, to 1e-5 relative."""
    from predictor.artifacts import collate
    from predictor.features import featurize_many

    graphs = [chain_graph(n, c) for n, c in ((3, 8), (17, 32), (1, 4), (40, 16))]
    data = featurize_many([g.to_dict() for g in graphs])
    for p in load_default_predictors().values():
        dev = p.device_indices(p.devices)
        mu, sigma = p.predict_log(data, dev)
        x, edge_index, batch, graph_attr = collate(data)
        with torch.no_grad():
            logs = torch.stack([
                torch.log(m(x, edge_index, batch, torch.as_tensor(dev).expand(len(data), -1), graph_attr)[0]
                          .clamp_min(1e-12))
                for m in p.members
            ])
        np.testing.assert_allclose(mu, logs.mean(0).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sigma, logs.std(0, unbiased=False).numpy(), rtol=1e-5, atol=1e-6)
        by_doc = p.predict([g.to_dict() for g in graphs], p.devices[:1])
        assert by_doc == p.predict(graphs, p.devices[:1]) == p.predict(data, p.devices[:1])


def _numbers(tree, strings: bool = False) -> list:
    """The numbers (or, with ``strings``, everything else) of a nested answer, in order."""
    if isinstance(tree, dict):
        return [x for k in sorted(tree) for x in [k] * strings + _numbers(tree[k], strings)]
    if isinstance(tree, list | tuple):
        return [x for v in tree for x in _numbers(v, strings)]
    is_number = isinstance(tree, int | float) and not isinstance(tree, bool)
    return [tree] if is_number != strings else []


def test_documents_in_many_forward_batches_match_featurised_data():
    """IR documents split over several forward batches give exactly what the same graphs,
    featurised first, give; a malformed document is an IRError."""
    from predictor.features import featurize_many
    from predictor.graph.ir import IRError

    p = next(iter(load_default_predictors().values()))
    docs = [chain_graph(n, 8 + n).to_dict() for n in range(2, 30)]
    dev = p.devices[:1]
    piped = p.predict(docs, dev, batch_size=4)
    assert piped == p.predict(featurize_many(docs), dev, batch_size=4)
    # another batch size: the same up to float rounding (matrix kernels are chosen by batch shape;
    # on an AVX-512 Xeon the graph head's spread differs in the 7th digit)
    whole = p.predict(docs, dev)
    assert _numbers(piped) == pytest.approx(_numbers(whole), rel=1e-5)
    assert _numbers(piped, strings=True) == _numbers(whole, strings=True)
    bad = [*docs[:10], {"nodes": "not a list"}, *docs[10:]]
    with pytest.raises(IRError):
        p.predict(bad, dev, batch_size=4)
