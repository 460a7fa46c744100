"""Training: tables, determinism, masking, calibration, few-shot adaptation."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from predictor.evaluate import metrics
from predictor.train import (
    TrainConfig,
    adapt_device,
    build_table,
    make_optimizer,
    predict_table,
    train_predictor,
)
from tests.predictor.test_features import chain_graph, synthetic_records

CFG = TrainConfig(min_steps=0, hidden_channels=16, num_layers=2, embed_channels=8, ensemble=2, epochs=40, batch_size=32,
                  patience=8, lr=5e-3)


@pytest.fixture(scope="module")
def table():
    return build_table(synthetic_records(160, seed=1, with_energy=("slow",)))


@pytest.fixture(scope="module")
def trained(table):
    return train_predictor(table, CFG, np.arange(120))


def test_table_masks_unmeasured_targets(table):
    assert table.devices == ["fast", "slow"] and table.targets == ["latency", "energy"]
    assert table.y.shape == (160, 2, 2)
    assert np.isnan(table.y[:, 0, 1]).all() and np.isfinite(table.y[:, 1, 1]).all()
    assert table.available().tolist() == [[True, False], [True, True]]


def test_training_is_deterministic_with_a_seed(table):
    cfg = TrainConfig(min_steps=0, hidden_channels=8, num_layers=1, embed_channels=4, ensemble=1, epochs=2, batch_size=32)
    a = train_predictor(table, cfg, np.arange(60)).members[0].state_dict()
    b = train_predictor(table, cfg, np.arange(60)).members[0].state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_members_trained_in_parallel_processes_are_the_sequential_members(table):
    cfg = TrainConfig(min_steps=0, hidden_channels=8, num_layers=1, embed_channels=4, ensemble=2, epochs=3,
                      batch_size=32, graph_head_steps=20)
    one = train_predictor(table, cfg, np.arange(80))
    two = train_predictor(table, replace(cfg, workers=2), np.arange(80))
    assert len(two.members) == 2
    for a, b in zip(one.members, two.members, strict=True):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    assert one.meta["members"] == two.meta["members"] and np.array_equal(one.q, two.q)
    assert "workers" not in two.meta["train_config"]
    assert one.version == two.version  # how it was run is not what it is


def test_a_time_budget_shrinks_the_schedule_to_the_epochs_it_affords():
    from predictor.train import fit_horizon

    assert fit_horizon(80, 0, 10.0, 1e9) == 80  # no budget
    assert fit_horizon(80, 0, 10.0, 800.0) == 80  # 10 s an epoch: 80 fit in 800 s
    assert fit_horizon(80, 0, 10.0, 600.0) == 60
    assert fit_horizon(80, 9, 200.0, 600.0) == 30  # slower than planned: 20 s an epoch
    assert fit_horizon(80, 9, 2000.0, 600.0) == 11  # past the budget: the next epoch is the last


def test_a_time_limited_member_ends_its_learning_rate_schedule(table, caplog):
    cfg = TrainConfig(min_steps=0, hidden_channels=8, num_layers=1, embed_channels=4, ensemble=1, epochs=500,
                      batch_size=32, max_minutes=0.02, graph_head_steps=0)
    with caplog.at_level(logging.INFO, logger="predictor.train"):
        pred = train_predictor(table, cfg, np.arange(80))
    scheduled = pred.meta["members"][0]["epochs_scheduled"]
    assert 2 <= scheduled < 500
    budget = [r for r in caplog.records if r.getMessage() == "train.budget"]
    assert budget and budget[-1].epochs == scheduled
    epochs = [r.epoch for r in caplog.records if r.getMessage() == "train.epoch"]
    assert epochs[-1] == scheduled - 1  # ran to the end of its (shrunk) schedule


def test_training_learns_and_beats_a_constant(trained, table):
    test = np.arange(120, 160)
    pred = predict_table(trained.members[0], table, test)
    ours = metrics(pred[:, :, 0], table.y[test, :, 0])
    const = metrics(np.broadcast_to(np.nanmedian(table.y[:120, :, 0], 0), (40, 2)), table.y[test, :, 0])
    assert ours["mape"] < 0.5 * const["mape"]
    assert ours["rho"] > 0.9


def test_checkpoint_metadata_and_availability(trained):
    assert trained.available.tolist() == [[True, False], [True, True]]
    assert trained.meta["training_data"]["graphs"] == 120
    assert np.isfinite(trained.meta["metrics"]["val_mape_ensemble"])
    assert trained.q.shape == (2, 2) and (trained.q > 0).all()
    assert len(trained.members) == 2


def test_checkpoints_record_the_node_kinds_of_their_training_graphs(trained, table):
    from predictor.features import describe_kind, node_kinds
    from tests.predictor.test_features import COL

    kinds = trained.meta["node_kinds"]
    assert kinds == sorted(set(kinds)) and kinds
    assert not any(trained.unseen_kinds(table.data[i]).any() for i in range(120))  # trained on 0..119
    data = table.data[0].clone()
    data.x = data.x.clone()
    data.x[2, [COL["kernel_h"], COL["kernel_w"], COL["stride"]]] = torch.tensor([11 / 7, 11 / 7, 4 / 2])
    assert np.flatnonzero(trained.unseen_kinds(data)).tolist() == [2]
    assert describe_kind(int(node_kinds(data)[2]), "conv") == "conv 11x11/4"
    before = trained.version
    trained.meta["node_kinds"] = kinds[:1]
    assert trained.version == before  # what serving warns about, not what it predicts
    trained.meta["node_kinds"] = kinds


def test_progress_is_logged(table, caplog):
    cfg = TrainConfig(min_steps=0, hidden_channels=8, num_layers=1, embed_channels=4, ensemble=1, epochs=1, batch_size=64)
    with caplog.at_level(logging.INFO, logger="predictor.train"):
        train_predictor(table, cfg, np.arange(40))
    epochs = [r for r in caplog.records if r.msg == "train.epoch"]
    assert epochs and {"epoch", "loss", "val_mape", "eta_s"} <= set(vars(epochs[0]))


def test_adapt_new_device_from_few_samples(trained, table):
    # the "slow" device, seen under a new name, fitted from 10 graphs only
    base = trained
    shots = np.arange(120, 130)
    test = np.arange(130, 160)
    values = table.y[shots, 1].copy()
    values[:, 1] = np.nan  # no energy measured on the new device
    adapted = adapt_device(base, "slow-again", [table.data[i] for i in shots], values)
    assert adapted.devices[-1] == "slow-again" and base.devices == ["fast", "slow"]
    dev = adapted.device_indices(["slow-again"])
    mu, _ = adapted.predict_log([table.data[i] for i in test], dev)
    m = metrics(np.exp(mu[:, 0, 0]), table.y[test, 1, 0])
    assert m["rho"] > 0.9 and m["mape"] < 25
    assert adapted.available[-1].tolist() == [True, False]
    mean_prior = adapt_device(base, "slow-again", [table.data[i] for i in shots], values, prior="mean")
    mu_mean, _ = mean_prior.predict_log([table.data[i] for i in test], dev)
    assert metrics(np.exp(mu_mean[:, 0, 0]), table.y[test, 1, 0])["rho"] > 0.9
    with pytest.raises(ValueError, match="prior"):
        adapt_device(base, "other", [table.data[i] for i in shots], values, prior="median")
    with pytest.raises(ValueError):
        adapt_device(base, "slow", [table.data[0]], table.y[:1, 1])
    with pytest.raises(ValueError):
        adapt_device(base, "other", [table.data[0]], table.y[:1, 1, :1])


def test_op_scales_fit_a_device_whose_op_types_cost_differently(trained, tmp_path):
    # a new device like "slow", except that every add costs 4x: one log-scale per op type, fitted
    # on 20 graphs, should find it (the embedding alone can only move all ops together)
    from predictor.artifacts import load_checkpoint, save_checkpoint
    from predictor.features import featurize, op_column
    from tests.predictor.test_features import DEVICES, chain_graph, op_cost

    rng = np.random.default_rng(5)
    graphs = [chain_graph(int(rng.integers(3, 25)), int(rng.choice([8, 16, 32])), size=int(rng.choice([4, 8, 16])))
              for _ in range(60)]
    speed, overhead = DEVICES["slow"]

    def latency(g):
        return sum((4.0 if n.op == "add" else 1.0) * (overhead + op_cost(n.op) * (n.macs + n.flops) * speed)
                   for n in g.nodes)

    y = np.array([latency(g) for g in graphs])
    data = [featurize(g) for g in graphs]
    values = np.full((20, 2), np.nan)
    values[:, 0] = y[:20]
    plain = adapt_device(trained, "new", data[:20], values, op_l2=None)
    scaled = adapt_device(trained, "new", data[:20], values)
    assert plain.members[0].device_op_scale is None

    def mape(p):
        mu, _ = p.predict_log(data[20:], p.device_indices(["new"]))
        return metrics(np.exp(mu[:, 0, 0]), y[20:])["mape"]

    assert mape(scaled) < 0.7 * mape(plain)
    for m in scaled.members:
        row = m.device_op_scale[-1, 0]
        assert row[op_column("add")] == row.max() and row[op_column("add")] > 0.1
        assert (m.device_op_scale[:-1] == 0).all() and (m.device_op_scale[-1, 1] == 0).all()  # energy unmeasured
    # the known devices answer as before; a saved adapted model loads with its op scales
    known = trained.device_indices(["fast", "slow"])
    assert np.allclose(scaled.predict_log(data, known)[0], trained.predict_log(data, known)[0], rtol=1e-5)
    loaded = load_checkpoint(save_checkpoint(scaled, tmp_path / "adapted.pt"))
    dev = scaled.device_indices(["new"])
    assert np.allclose(loaded.predict_log(data, dev)[0], scaled.predict_log(data, dev)[0], rtol=1e-5)
    # the per-layer breakdown (one graph, no op index given) sums to the graph's prediction
    contrib = scaled.node_contributions(data[30], dev)
    assert contrib[:, 0, 0].sum() == pytest.approx(np.exp(scaled.predict_log(data[30:31], dev)[0][0, 0, 0]),
                                                   rel=0.05)


def test_calibrate_device_blends_in_a_kernel_sum_where_cross_validation_prefers_it(trained, tmp_path):
    # a device whose latency is exactly a kernel sum (0.2 ms per node + 1 ns per FLOP): the
    # cross-validated blend must lean on the kernel sum and beat the GNN-only adaptation
    from predictor.artifacts import load_checkpoint, save_checkpoint
    from predictor.features import featurize
    from predictor.train import calibrate_device
    from tests.predictor.test_features import chain_graph

    rng = np.random.default_rng(7)
    graphs = [chain_graph(int(rng.integers(3, 25)), int(rng.choice([8, 16, 32])), size=int(rng.choice([4, 8, 16])))
              for _ in range(50)]
    y = np.array([sum(0.2 + 1e-6 * n.flops for n in g.nodes) for g in graphs])
    data = [featurize(g) for g in graphs]
    values = np.full((20, 2), np.nan)
    values[:, 0] = y[:20]
    gnn_only = adapt_device(trained, "kern", data[:20], values)
    blended = calibrate_device(trained, "kern", data[:20], values)
    spec = blended.meta["kernels"]["kern"]["latency"]
    assert spec["weight"] < 1.0 and spec["samples"] == 20 and "energy" not in blended.meta["kernels"]["kern"]
    dev = blended.device_indices(["kern"])

    def mape(p):
        return metrics(np.exp(p.predict_log(data[20:], dev)[0][:, 0, 0]), y[20:])["mape"]

    assert mape(blended) < mape(gnn_only)
    loaded = load_checkpoint(save_checkpoint(blended, tmp_path / "blended.pt"))
    assert np.allclose(loaded.predict_log(data, dev)[0], blended.predict_log(data, dev)[0], rtol=1e-6)
    # known devices are not blended; too few measurements: no blend at all
    known = trained.device_indices(["fast", "slow"])
    assert np.allclose(blended.predict_log(data, known)[0], trained.predict_log(data, known)[0], rtol=1e-5)
    few = calibrate_device(trained, "kern", data[:4], values[:4])
    assert "kernels" not in few.meta


def _latency(predictor, data, device: str) -> np.ndarray:
    """Predicted latency (ms) of ``data`` on one device."""
    return np.exp(predictor.predict_log(data, predictor.device_indices([device]))[0][:, 0, 0])


def _calibrated(trained, device: str, data, y: np.ndarray, k: int):
    """``calibrate_device`` on the first ``k`` graphs' latencies; the predictor and its record of the choice."""
    from predictor.train import calibrate_device

    values = np.full((k, 2), np.nan)
    values[:, 0] = y[:k]
    adapted = calibrate_device(trained, device, data[:k], values)
    return adapted, adapted.meta["adapted"][device]


def test_calibrate_device_takes_a_known_device_times_a_constant_when_cross_validation_clearly_prefers_it(
    trained, table
):
    # a new device that is exactly the known "slow" device 1.3x slower: the one-constant transfer
    # from "slow" explains it better on every held-out fold than a free row fitted on 20 graphs
    # (the simpler model, which the one-standard-error rule also keeps where the two tie)
    data = [table.data[i] for i in range(120, 160)]
    slow = _latency(trained, data, "slow")
    adapted, info = _calibrated(trained, "slow-ish", data, slow * 1.3, 20)
    assert info["method"] == "nearest" and info["cv_mse"]["nearest"] < info["cv_mse"]["gnn"]
    assert metrics(_latency(adapted, data[20:], "slow-ish"), slow[20:] * 1.3)["mape"] < 0.1
    # the known devices answer as before
    known = trained.device_indices(["fast", "slow"])
    assert np.allclose(adapted.predict_log(data, known)[0], trained.predict_log(data, known)[0], rtol=1e-5)


def test_calibrate_device_fits_its_own_row_when_cross_validation_clearly_prefers_it(trained):
    # a new device with the slow device's cost per MAC and the fast one's per-node overhead: no
    # known device times one constant follows it (their ratio to it varies with each graph's mix of
    # work and nodes), a row fitted to it does, so the one-standard-error rule leaves the constant
    from predictor.features import featurize
    from tests.predictor.test_features import chain_graph, synthetic_latency

    rng = np.random.default_rng(11)
    graphs = [chain_graph(int(rng.integers(3, 25)), int(rng.choice([8, 16, 32, 48])), size=int(rng.choice([4, 8, 16])))
              for _ in range(60)]
    data = [featurize(g) for g in graphs]
    y = np.array([synthetic_latency(g, 5e-7, 0.002) for g in graphs])
    adapted, info = _calibrated(trained, "mixed", data, y, 30)
    assert info["method"] == "gnn" and info["cv_mse"]["gnn"] < info["cv_mse"]["nearest"]
    best_constant = min(
        metrics(_latency(trained, data[30:], d) * float(np.median(y[:30] / _latency(trained, data[:30], d))),
                y[30:])["mape"]
        for d in ("fast", "slow"))
    assert metrics(_latency(adapted, data[30:], "mixed"), y[30:])["mape"] < best_constant


def test_blend_weight_needs_a_clear_cross_validated_win():
    from predictor.train import BLEND_WEIGHTS, _blend_weight

    rng = np.random.default_rng(3)
    gnn = rng.exponential(0.02, 50)
    # a blend 5% better on average but no better than chance sample to sample: the GNN stays alone
    noisy = np.stack([gnn * 1.2 for _ in BLEND_WEIGHTS[:-1]] + [gnn])
    noisy[3] = gnn * np.tile([0.5, 1.3], 25)
    assert noisy[3].mean() < 0.96 * gnn.mean() and _blend_weight(noisy) == 1.0
    # a blend better on nearly every sample is taken
    clear = np.stack([gnn * (0.3 + 0.1 * i) for i in range(len(BLEND_WEIGHTS) - 1)] + [gnn])
    assert _blend_weight(clear) == BLEND_WEIGHTS[0]
    assert _blend_weight(np.stack([gnn[:1]] * len(BLEND_WEIGHTS))) == 1.0  # one sample: no evidence


def test_metrics_on_known_values():
    y = np.array([100.0, 200.0, 300.0, 400.0])
    pred = np.array([104.0, 180.0, 300.0, 500.0])
    m = metrics(pred, y, lo=pred * 0.9, hi=pred * 1.1)
    assert m["n"] == 4
    assert m["mape"] == pytest.approx((4 + 10 + 0 + 25) / 4)
    assert m["acc5"] == 50.0 and m["acc10"] == 75.0 and m["rho"] == pytest.approx(1.0)
    assert m["cov90"] == 50.0  # 200 is outside [162, 198], 400 outside [450, 550]
    assert metrics(np.array([1.0]), np.array([np.nan]))["n"] == 0


def test_new_device_scenario_never_trains_on_the_held_out_device(table):
    from predictor.evaluate import new_devices

    cfg = TrainConfig(min_steps=0, hidden_channels=8, num_layers=1, embed_channels=4, ensemble=1, epochs=5)
    lat = table.subset_devices(table.devices)
    lat.targets, lat.y = ["latency"], table.y[:, :, :1]
    rows = new_devices(lat, cfg, held_out=["slow"], ks=(10,), repeats=1)
    models = {r["model"] for r in rows}
    assert models == {"perfsage", "macs_regression", "kernel_sum", "graph_gbt"}
    assert {r["device"] for r in rows} == {"slow"} and all(r["n"] == 150 for r in rows)


def test_random_split_per_group_rows_partition_the_test_set(table):
    from predictor.evaluate import group_labels, random_split

    cfg = TrainConfig(min_steps=0, hidden_channels=8, num_layers=1, embed_channels=4, ensemble=1, epochs=3)
    rows = random_split(table, cfg, per_group=True)
    by_sc = {}
    for r in rows:
        if r["model"] == "perfsage" and r["device"] == "fast" and r["target"] == "latency":
            by_sc[r["scenario"]] = r
    assert set(by_sc) == {"random", "random/even", "random/odd"}
    assert by_sc["random/even"]["n"] + by_sc["random/odd"]["n"] == by_sc["random"]["n"] == 32
    zoo = table.subset_graphs(np.arange(3))
    zoo.keys = ["zoo-resnet50-224:fp32:onnx", "zoo-mobilenet_v3_small-160:int8:tflite", "nb201-0-1:int8:tflite"]
    zoo.spaces = ["zoo", "zoo", "nb201"]
    assert group_labels(zoo, np.arange(3)).tolist() == ["zoo:resnet", "zoo:mobilenet int8", "nb201 int8"]


def test_corpus_records_reads_only_the_devices_asked_for(tmp_path):
    from datasets.corpus import write_shard
    from predictor.evaluate import corpus_records
    from tests.predictor.test_features import chain_graph

    def rec(dev: str, i: int) -> dict:
        return {"arch_id": f"nb201-0-{i}", "space": "nb201", "variant": "fp32", "format": "onnx", "device_key": dev,
                "spec": {"i": i}, "summary": {"macs": 1000 * (i + 1)}, "ir": chain_graph(3 + i, 4).to_dict(),
                "measurement": {"latency_ms": 1.0 + i, "median_ms": 1.0 + i, "peak_memory_mb": 20.0 + i,
                                "measured_at": f"2026112{7 + i // 2}T{10 + i:02d}3000"}}

    root = tmp_path / "corpus"
    for dev in ("cpu-a", "cpu-b"):
        write_shard(root / dev / "nb201", [rec(dev, i) for i in range(4)])
    where = {"root": root, "cache": tmp_path / "cache"}
    both = corpus_records(**where)
    assert sorted({r.device for r in both}) == ["cpu-a", "cpu-b"] and len(both) == 8
    only_b = corpus_records(devices=["cpu-b"], limit=3, drift=True, **where)
    assert {r.device for r in only_b} == {"cpu-b"} and len(only_b) == 3  # the limit counts cpu-b's graphs
    assert [r.targets["memory"] for r in only_b] == [20.0, 21.0, 22.0]
    assert only_b[1].graph.num_nodes == 4  # featurised from the IR, which the records no longer hold
    # one measuring window: [start, end) by UTC time stamp prefixes, either side open
    window = corpus_records(devices=["cpu-a"], measured=("20261127T11", "20261128T13"), **where)
    assert [r.targets["memory"] for r in window] == [21.0, 22.0]
    assert len(corpus_records(devices=["cpu-a"], measured=("", "20261127T12"), **where)) == 2
    assert len(corpus_records(devices=["cpu-a"], measured=("20261128", ""), **where)) == 2


def test_fit_roofline_recovers_nonnegative_rates():
    from predictor.train import fit_roofline

    rng = np.random.default_rng(0)
    totals = np.column_stack([rng.uniform(1e6, 1e9, 200), rng.uniform(1e5, 1e8, 200), rng.integers(10, 300, 200)])
    y = totals @ np.array([2e-9, 0.0, 1e-3])
    rates = np.exp(fit_roofline(totals, y))
    assert rates[0] == pytest.approx(2e-9, rel=1e-3) and rates[2] == pytest.approx(1e-3, rel=1e-2)
    assert rates[1] > 0  # a dropped term is floored (0.1% of the median graph), never zero or negative
    assert (totals @ rates / y).max() < 1.05


def test_roofline_training_and_adaptation(table):
    cfg = TrainConfig(min_steps=0, hidden_channels=16, num_layers=2, embed_channels=8, ensemble=1, epochs=25,
                      batch_size=32, lr=5e-3, contribution="roofline")
    pred = train_predictor(table, cfg, np.arange(120))
    test = np.arange(130, 160)
    ours = metrics(predict_table(pred.members[0], table, test)[:, 1, 0], table.y[test, 1, 0])
    assert ours["rho"] > 0.9
    shots = np.arange(120, 130)
    values = table.y[shots, 1].copy()
    adapted = adapt_device(pred, "slow-again", [table.data[i] for i in shots], values)
    mu, _ = adapted.predict_log([table.data[i] for i in test], adapted.device_indices(["slow-again"]))
    assert metrics(np.exp(mu[:, 0, 0]), table.y[test, 1, 0])["rho"] > 0.9
    assert adapted.members[0].device_rate.shape[0] == 3


def test_memory_target_trains_with_a_hidden_auxiliary_target_that_is_not_shipped():
    from predictor.features import MEMORY_COLUMNS, ROOFLINE_SCALE
    from predictor.train import AUX_MEMORY, Record, with_aux_target

    records = []
    for r in synthetic_records(80, seed=3):
        x = r.graph.x
        weights = float(np.expm1(x[:, MEMORY_COLUMNS[0]].double().numpy() * ROOFLINE_SCALE).sum())
        peak = float(np.expm1(x[:, MEMORY_COLUMNS[1]].double().numpy() * ROOFLINE_SCALE).sum())
        mem = 20.0 + 1.6e-6 * weights + 1.9e-6 * peak  # MB: what ONNX Runtime showed on a real CPU
        records.append(Record(r.key, r.graph, r.device, {**r.targets, "memory": mem}, r.space))
    table = build_table(records)
    cfg = TrainConfig(**{**CFG.__dict__, "ensemble": 1, "epochs": 3, "graph_head": 0})
    assert with_aux_target(table, cfg).targets == ["latency", "memory", AUX_MEMORY]
    assert with_aux_target(table, TrainConfig(aux_memory=False)) is table
    pred = train_predictor(table, cfg)
    assert pred.targets == ["latency", "memory"] and pred.q.shape == (2, 2)
    m = pred.members[0]
    assert m.num_targets == 2 and m.target_bases == ["compute", "memory"] and m.device_rate.shape == (2, 2, 3)
    out = pred.predict([records[0].graph], ["fast"])[0]["predictions"]["fast"]
    assert set(out) == {"latency", "memory"}
    # the memory floor alone (the untrained rates from the NNLS fit) is already close
    assert out["memory"]["value"] == pytest.approx(records[0].targets["memory"], rel=0.1)


def _stepped_memory_records(n: int, seed: int):
    """Memory = the weights + peak floor, times 1.5 on graphs of more than 12 nodes: a whole-run
    effect (like an allocator's arena growing in steps) that no sum of node costs expresses."""
    from predictor.features import MEMORY_COLUMNS, ROOFLINE_SCALE
    from predictor.train import Record

    out = []
    for r in synthetic_records(n, seed=seed):
        x = r.graph.x
        weights = float(np.expm1(x[:, MEMORY_COLUMNS[0]].double().numpy() * ROOFLINE_SCALE).sum())
        peak = float(np.expm1(x[:, MEMORY_COLUMNS[1]].double().numpy() * ROOFLINE_SCALE).max())
        mem = (20.0 + 1.6e-6 * weights + 1.9e-6 * peak) * (1.5 if r.graph.num_nodes > 12 else 1.0)
        out.append(Record(r.key, r.graph, r.device, {**r.targets, "memory": mem}, r.space))
    return out


def test_graph_head_fits_a_whole_graph_memory_effect_and_survives_a_checkpoint(tmp_path):
    from predictor.artifacts import load_checkpoint, save_checkpoint

    table = build_table(_stepped_memory_records(160, seed=5))
    test = build_table(_stepped_memory_records(60, seed=6))
    errors = {}
    for head in (0, 16):
        cfg = TrainConfig(**{**CFG.__dict__, "ensemble": 1, "epochs": 40, "graph_head": head})
        pred = train_predictor(table, cfg)
        m = pred.members[0]
        assert m.graph_head == head and (m.graph_mlp is not None) == bool(head)
        mu, _ = pred.predict_log(test.data, pred.device_indices(test.devices))
        errors[head] = metrics(np.exp(mu[:, :, 1]).ravel(), test.y[:, :, 1].ravel())["mape"]
    assert errors[16] < 0.7 * errors[0], errors
    # the head ships: its config and weights round-trip, and the auxiliary target is gone
    loaded = load_checkpoint(save_checkpoint(pred, tmp_path / "head.pt"))
    assert loaded.members[0].config()["graph_head"] == 16 and loaded.members[0].num_targets == 2
    again, _ = loaded.predict_log(test.data, loaded.device_indices(test.devices))
    np.testing.assert_allclose(again, mu, rtol=1e-5, atol=1e-6)


def test_build_model_memory_options():
    from predictor.train import AUX_MEMORY, build_model

    targets = ["latency", "memory", AUX_MEMORY]
    m = build_model(TrainConfig(), 2, 3, targets)
    assert m.target_bases == ["compute", "memory", "compute"] and m.encoder_targets == [0, 2]
    assert build_model(TrainConfig(encoder_memory=True), 2, 3, targets).encoder_targets is None
    plain = build_model(TrainConfig(memory_basis=False), 2, 2, ["latency", "memory"])
    assert plain.target_bases is None and plain.encoder_targets is None  # memory trains the encoder as before
    assert build_model(TrainConfig(), 2, 1, ["latency"]).target_bases is None


def test_refit_graph_heads_improves_memory_of_a_trained_ensemble_and_checks_its_table():
    from predictor.train import Table, refit_graph_heads

    table = build_table(_stepped_memory_records(160, seed=5))
    cfg = TrainConfig(**{**CFG.__dict__, "ensemble": 2, "epochs": 6, "graph_head": 16, "graph_head_steps": 0})
    pred = train_predictor(table, cfg)
    latency_before, _ = pred.predict_log(table.data[:20], pred.device_indices(table.devices))
    refit = refit_graph_heads(pred, table, steps=600)
    info = refit.meta["refit"]
    assert info["val_mape_ensemble_before"] == pytest.approx(pred.meta["metrics"]["val_mape_ensemble"])
    assert refit.meta["metrics"]["val_mape_ensemble"] < info["val_mape_ensemble_before"]
    for k in range(2):  # each member's head on its own validation graphs
        head = refit.meta["members"][k]["graph_head"]
        assert head["val_mape_after"] < head["val_mape_before"]
    assert refit.meta["train_config"]["graph_head_steps"] == 600
    assert not np.array_equal(refit.q, pred.q) and refit.version != pred.version
    mu, _ = refit.predict_log(table.data[:20], refit.device_indices(table.devices))
    np.testing.assert_allclose(mu[:, :, 0], latency_before[:, :, 0], rtol=1e-6)  # latency untouched
    assert pred.meta["members"][0].get("graph_head") is None  # the original is not modified
    # another table (one graph fewer, or other labels) would put training graphs in the split's
    # validation part: refused
    with pytest.raises(ValueError, match="not the one"):
        refit_graph_heads(pred, table.subset_graphs(np.arange(159)))
    relabelled = Table(table.keys, table.data, table.spaces, table.devices, table.targets, table.y * 1.3)
    with pytest.raises(ValueError, match="validation MAPE"):
        refit_graph_heads(pred, relabelled)


def test_constant_fit_is_the_median_log_ratio_and_skips_unmeasured():
    from predictor.train import _constant_fit

    off, err = _constant_fit(np.log([1.1, 1.2, 1.3, 5.0, np.nan]))  # one wild measurement, one missing
    assert off == pytest.approx(np.log(np.sqrt(1.2 * 1.3)))  # the median of four: the middle two's mean
    assert err == pytest.approx(np.mean((np.log([1.1, 1.2, 1.3, 5.0]) - off) ** 2))
    assert _constant_fit(np.array([np.nan, np.nan])) == (0.0, float("inf"))


def test_packed_batches_are_what_pyg_batches_are():
    """Training batches come from Table.packed(): the same node features, graph index, graph
    features, op columns and adjacency as Batch.from_data_list of the same graphs in that order."""
    from torch_geometric.data import Batch

    from predictor.features import featurize
    from predictor.models.perf_sage import PerfSAGE
    from predictor.train import Packed

    data = [featurize(chain_graph(n, 4 + n)) for n in (1, 5, 3, 8, 2)]
    order = [3, 0, 4, 3]
    got = Packed(data).batch(order)
    ref = Batch.from_data_list([data[i] for i in order], exclude_keys=["node_names"])
    assert got.num_graphs == 4
    assert torch.equal(got.x, ref.x) and torch.equal(got.batch, ref.batch)
    assert torch.equal(got.graph_attr, ref.graph_attr)
    assert torch.equal(got.one_hot[0], torch.cat([data[i].op_col for i in order]))
    want = PerfSAGE.adjacency(ref.edge_index, ref.num_nodes)
    assert torch.equal(got.adj.to_dense(), want.to_dense())


def test_leave_one_space_out_tests_each_held_out_space_on_its_own(table):
    from predictor.evaluate import leave_one_space_out

    cfg = TrainConfig(min_steps=0, hidden_channels=8, num_layers=1, embed_channels=4, ensemble=1, epochs=2)
    rows = leave_one_space_out(table, cfg, held_out=["odd"])  # one fold of two (--loso-spaces)
    assert {r["scenario"] for r in rows} == {"loso:odd"}
    [gnn] = [r for r in rows if r["model"] == "perfsage" and r["device"] == "fast" and r["target"] == "latency"]
    assert gnn["n"] == sum(s == "odd" for s in table.spaces) and gnn["mape"] > 0


@pytest.mark.parametrize("silence", [True, False])
def test_an_op_type_no_training_graph_had_is_read_from_its_shapes_not_from_random_weights(table, silence):
    from predictor.features import N_OP_COLS, featurize, op_column
    from tests.predictor.test_features import chain_graph

    cfg = replace(CFG, ensemble=2, epochs=4, silence_unseen=silence)
    pred = train_predictor(table, cfg, np.arange(120))
    for m in pred.members:
        inputs = m.lin_in.weight[:, :N_OP_COLS]
        assert bool((inputs[:, op_column("conv")] != 0).any())  # trained on: learned weights
        assert bool((inputs[:, op_column("softmax")] == 0).all()) == silence
        if m.graph_mlp is not None:
            assert bool((m.graph_mlp[0].weight[:, m.graph_channels + op_column("gelu")] == 0).all()) == silence
    # the same chain with an op no training graph had in its relu's place: softmax or gelu, both unseen
    unseen = [featurize(chain_graph(12, 16, ops=("conv", op, "add"))) for op in ("softmax", "gelu")]
    a, b = (_latency(pred, [d], "slow")[0] for d in unseen)
    assert (a == pytest.approx(b, rel=1e-6)) == silence


def test_op_dropout_reads_some_nodes_without_their_op_type_in_training_only(table):
    cfg = replace(CFG, ensemble=1, epochs=2, op_dropout=0.5)
    pred = train_predictor(table, cfg, np.arange(120))
    m = pred.members[0]
    assert m.op_dropout == 0.0  # reset after training: serving and fine-tuning read every op type
    batch = table.packed().batch(np.arange(8))
    m.op_dropout = 0.5
    m.train()
    torch.manual_seed(0)
    dropped = m.input_layer(batch.x, batch.one_hot)
    m.eval()
    full = m.input_layer(batch.x, batch.one_hot)
    numeric = torch.nn.functional.linear(batch.x[:, batch.one_hot[1]:], m.lin_in.weight[:, batch.one_hot[1]:],
                                         m.lin_in.bias)
    same = torch.isclose(dropped, full).all(1)
    typeless = torch.isclose(dropped, numeric).all(1)
    assert bool((same | typeless).all()) and 0 < int(typeless.sum()) < len(typeless)
    assert torch.equal(m.input_layer(batch.x, batch.one_hot), full)  # eval mode: nothing dropped
    assert pred.meta["train_config"]["op_dropout"] == 0.5


def test_a_checkpoints_table_is_rebuilt_from_the_spaces_it_was_trained_on(tmp_path, capsys):
    """Records of a space measured after training (or left out with --exclude-spaces) stay out
    of the table that --refit-graph-head and --node-kinds rebuild; a space name that is not one is
    refused with the list of those that are."""
    from types import SimpleNamespace

    from datasets.corpus import write_shard
    from edgeperf.cli import main
    from predictor.train import _checkpoint_table
    from tests.predictor.test_features import chain_graph

    def rec(space: str, i: int) -> dict:
        return {"arch_id": f"{space}-0-{i}", "space": space, "variant": "fp32", "format": "onnx",
                "device_key": "cpu-a", "spec": {"i": i}, "summary": {"macs": 1000 * (i + 1)},
                "ir": chain_graph(3 + i, 4).to_dict(),
                "measurement": {"latency_ms": 1.0 + i, "median_ms": 1.0 + i, "peak_memory_mb": 20.0 + i,
                                "measured_at": "20261207T050000"}}

    root = tmp_path / "corpus"
    for space in ("nb201", "dwsep", "zoo"):
        write_shard(root / "cpu-a" / space, [rec(space, i) for i in range(3)])
    base = SimpleNamespace(devices=["cpu-a"], targets=["latency", "memory"],
                           meta={"training_data": {"source": f"corpus-root:{root}", "spaces": ["nb201"]}})
    assert sorted(_checkpoint_table(base).keys) == [f"nb201-0-{i}:fp32:onnx" for i in range(3)]
    base.meta["training_data"].pop("spaces")  # a checkpoint that records none: every space but the zoo
    assert sorted(set(k.split("-")[0] for k in _checkpoint_table(base).keys)) == ["dwsep", "nb201"]

    assert main(["train", "--source", f"corpus-root:{root}", "--exclude-spaces", "dwsep", "nb2O1",
                 "--out", str(tmp_path / "x.pt")]) == 2
    assert "--exclude-spaces nb2O1: not a search space (known: mobilenet" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_zoo_folds_deal_families_into_folds_of_about_as_many_graphs():
    from predictor.train import parse_zoo_selection, zoo_folds

    fams = ["mobilenet_v2"] * 7 + ["mobilenet_v3"] * 7 + ["efficientnet"] * 5 + ["resnet"] * 3 + ["mobilenet_v1"] * 3 \
        + ["densenet", "nasnet", "inception", "convnext"]
    folds = zoo_folds(fams, 3)
    assert sorted(f for g in folds for f in g) == sorted(set(fams))  # every family once
    sizes = [sum(fams.count(f) for f in g) for g in folds]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == len(fams)
    assert zoo_folds(list(reversed(fams)), 3) == folds  # order of the records does not matter
    assert parse_zoo_selection("all") is None and parse_zoo_selection("2/3") == (2, 3)
    for bad in ("3/3", "0/1", "x/2", "1"):
        with pytest.raises(ValueError, match="K/N"):
            parse_zoo_selection(bad)


def test_train_zoo_folds_train_on_some_families_and_are_scored_cross_fitted_on_the_others(tmp_path, capsys):
    """``edgeperf train --train-zoo K/N`` puts the zoo graphs of every family outside fold K into
    the fitting set (never validation); the checkpoint records them, bench/accuracy.py scores each
    zoo graph with the fold that did not see its family, and a refit refuses such a checkpoint."""
    from bench import accuracy
    from datasets.corpus import write_shard
    from edgeperf.cli import main
    from predictor.artifacts import load_checkpoint
    from predictor.train import zoo_folds
    from tests.predictor.test_features import chain_graph

    def rec(arch: str, space: str, i: int) -> dict:
        return {"arch_id": arch, "space": space, "variant": "fp32", "format": "onnx", "device_key": "cpu-a",
                "spec": {"i": i}, "summary": {"macs": 1000 * (i + 1)}, "ir": chain_graph(3 + i % 9, 4 + i % 5).to_dict(),
                "measurement": {"latency_ms": 1.0 + 0.3 * i, "median_ms": 1.0 + 0.3 * i, "peak_memory_mb": 20.0 + i,
                                "measured_at": "20261207T050000"}}

    root = tmp_path / "corpus"
    write_shard(root / "cpu-a" / "nb201", [rec(f"nb201-0-{i}", "nb201", i) for i in range(40)])
    names = ["mobilenet_v2", "mobilenet_v2_050", "resnet50", "densenet121", "efficientnet_b0", "mobilenet_v3_small"]
    write_shard(root / "cpu-a" / "zoo", [rec(f"zoo-{n}-224", "zoo", i) for i, n in enumerate(names)])
    src = f"corpus-root:{root}"
    common = ["train", "--source", src, "--epochs", "2", "--ensemble", "1", "--workers", "1", "--zoo-weight", "3"]
    assert main([*common, "--train-zoo", "2/2", "--out", str(tmp_path / "bad.pt")]) == 2
    assert "--train-zoo '2/2': give 'all' or K/N" in capsys.readouterr().err
    families = ["mobilenet_v2", "mobilenet_v2", "resnet", "densenet", "efficientnet", "mobilenet_v3"]
    folds = zoo_folds(families, 2)
    for k in (0, 1):
        assert main([*common, "--train-zoo", f"{k}/2", "--out", str(tmp_path / f"f{k}.pt")]) == 0
        data = load_checkpoint(str(tmp_path / f"f{k}.pt")).meta["training_data"]
        assert data["zoo_held_out"] == folds[k]
        assert data["zoo_families"] == sorted(set(families) - set(folds[k]))
        assert data["zoo_graphs"] == sum(f not in folds[k] for f in families) and data["zoo_weight"] == 3
        assert data["graphs"] == 40 + data["zoo_graphs"]  # each zoo graph once, however often it is fitted
    capsys.readouterr()
    assert accuracy.main(["--source", src, "--checkpoint", str(tmp_path / "f0.pt"), str(tmp_path / "f1.pt")]) == 0
    out = capsys.readouterr().out
    n0 = sum(f in folds[0] for f in families)
    assert "f0.pt" in out and f"scores {n0} zoo graphs" in out and f"scores {6 - n0} zoo graphs" in out
    assert "6 zoo graphs on 1 of the devices" in out
    # one fold alone scores only the families it held out
    assert accuracy.main(["--source", src, "--checkpoint", str(tmp_path / "f0.pt")]) == 0
    out = capsys.readouterr().out
    assert f"left out: {6 - n0} zoo graphs of families every checkpoint trained on" in out
    assert main(["train", "--refit-graph-head", str(tmp_path / "f0.pt"), "--out", str(tmp_path / "r.pt")]) == 2
    assert "trained on zoo networks too (--train-zoo 0/2)" in capsys.readouterr().err


def test_kind_scales_learn_a_device_whose_7x7_depthwise_kernels_are_slow(tmp_path):
    # LiteRT's XNNPACK runs 7x7 depthwise convolutions 6-80x slower than 5x5 ones on some CPUs
    # (bench/results/dwconv-kernels-*): a device "odd" like "even" except for those; its 7x7 stems
    # and 3x3/5x5 depthwise kernels cost what their work implies. Kind scales should learn it per
    # device without touching "even", where a model without them may not
    from predictor.features import N_OP_COLS, featurize
    from predictor.train import Record
    from tests.predictor.test_models import _kernel_graph

    kinds = [("conv", 1, 1), ("conv", 3, 1), ("conv", 7, 1), ("dwconv", 3, 8), ("dwconv", 5, 8), ("dwconv", 7, 8),
             ("relu", 0, 1)]
    rng = np.random.default_rng(3)
    records, truth = [], {}
    for g in range(200):
        spec = [kinds[i] for i in rng.integers(0, len(kinds), int(rng.integers(4, 16)))]
        data = featurize(_kernel_graph(spec, channels=8))
        base = np.array([0.01 + 1e-3 * (k or 1) ** 2 * (0.3 if op == "dwconv" else 1.0) for op, k, _ in spec])
        slow = np.array([30.0 if (op, k) == ("dwconv", 7) else 1.0 for op, k, _ in spec])
        for dev, lat in (("even", base.sum()), ("odd", (base * slow).sum())):
            records.append(Record(f"g{g}", data, dev, {"latency": float(lat)}, space="s"))
            truth[f"g{g}", dev] = lat
    table = build_table(records)
    cfg = replace(CFG, epochs=60)
    test = np.arange(150, 200)
    plain = train_predictor(table, cfg, np.arange(150))
    kind = train_predictor(table, replace(cfg, kind_scales=True), np.arange(150))

    def mape(p, dev):
        mu, _ = p.predict_log([table.data[i] for i in test], p.device_indices([dev]))
        return metrics(np.exp(mu[:, 0, 0]), table.y[test, table.devices.index(dev), 0])["mape"]

    assert mape(kind, "odd") < 0.7 * mape(plain, "odd"), (mape(kind, "odd"), mape(plain, "odd"))
    assert mape(kind, "even") < 1.5 * mape(plain, "even") + 1.0
    odd, even = kind.devices.index("odd"), kind.devices.index("even")
    for m in kind.members:
        row = m.device_op_scale[:, 0].detach()
        dw7, dw3, conv7 = N_OP_COLS + 8, N_OP_COLS + 6, N_OP_COLS + 3
        # "odd"'s own 7x7 depthwise scale carries part of the 30x (its device row, reading the kind
        # from the node's embedding, the rest): more than its 7x7 convolutions' or 3x3 depthwise ones'
        gap = row[odd] - row[even]
        assert gap[dw7] > gap[conv7] + 0.4 and gap[dw7] > gap[dw3] + 0.4, gap[[dw7, conv7, dw3]]
    assert kind.members[0].config()["kernel_kinds"] and kind.meta["train_config"]["kind_scales"] is True
    from predictor.artifacts import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(save_checkpoint(kind, tmp_path / "kinds.pt"))
    data = [table.data[i] for i in test]
    assert np.allclose(loaded.predict_log(data, [odd])[0], kind.predict_log(data, [odd])[0], rtol=1e-5)
    # a new device calibrated on such a model takes its prior's kind scales: "odd" measured again (2x
    # slower) from 20 graphs is "odd" times a constant, its 7x7 depthwise scale included
    shots = np.arange(20)
    values = 2.0 * table.y[shots, odd, :1]
    for prior in ("nearest", "mixture", "mean"):
        new = adapt_device(kind, "odd2", [table.data[i] for i in shots], values, prior=prior)
        for m in new.members:
            assert (m.device_op_scale[-1] != 0).any()
        mu, _ = new.predict_log(data, new.device_indices(["odd2"]))
        err = metrics(np.exp(mu[:, 0, 0]), 2.0 * table.y[test, odd, 0])["mape"]
        assert err < 1.5 * mape(kind, "odd") + 2.0, (prior, err, mape(kind, "odd"))
    near = adapt_device(kind, "odd2", [table.data[i] for i in shots], values, prior="nearest", refine=False,
                        op_l2=None)
    for m in near.members:
        torch.testing.assert_close(m.device_op_scale[-1, 0], m.device_op_scale[odd, 0])


def test_kind_scales_leave_memory_targets_alone():
    # peak memory is not a sum of per-kind costs: a model with kernel-kind scales keeps its memory
    # targets' scales at 0 through training, while latency's move
    from predictor.train import build_model

    cfg = replace(CFG, kind_scales=True)
    model = build_model(cfg, 2, 2, ["latency", "memory"])
    assert model.target_bases == ["compute", "memory"]
    table = build_table(synthetic_records(40, seed=2))
    batch = Batch.from_data_list([table.data[i] for i in range(8)], exclude_keys=["node_names"])
    opt = make_optimizer(model, cfg)
    for _ in range(5):
        pred, _ = model(batch.x, batch.edge_index, batch.batch, torch.tensor([[0, 1]] * 8), batch.graph_attr)
        loss = (torch.log(pred) - 1.0).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.device_op_scale[:, 0].abs().sum() > 0
    assert (model.device_op_scale[:, 1] == 0).all()
