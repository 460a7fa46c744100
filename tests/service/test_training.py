"""Retraining: train job -> worker -> version promoted only if better; list; restore."""

from __future__ import annotations

import threading

import pytest

from service.models import Job
from service.worker import Worker, load_handlers
from tests.service.conftest import ADMIN
from tests.service.perf_data import SHAPES, analytic_latency, conv_net, post_latencies, register, upload

pytestmark = pytest.mark.anyio

DEVICES = {"board-a": (40.0, 0.01), "board-b": (15.0, 0.03)}
FAST = {"epochs": 25, "ensemble": 2, "hidden_channels": 16}


async def _dataset(client) -> None:
    graphs = [await upload(client, conv_net(*s), f"net{i}.onnx") for i, s in enumerate(SHAPES)]
    for name, (per_gmac, overhead) in DEVICES.items():
        device = await register(client, name)
        lat = [analytic_latency(g["summary"], per_gmac, overhead) for g in graphs]
        await post_latencies(client, device, [g["id"] for g in graphs], lat)


def _work(app, settings, kinds=("predictor.train",)) -> int:
    worker = Worker(app.state.sessionmaker, settings, load_handlers(list(kinds)), "test-worker")
    return worker.run(threading.Event(), once=True)


async def _train(client, app, settings, **params) -> dict:
    resp = await client.post("/v1/predictors/train", json=params, headers=ADMIN)
    assert resp.status_code == 202, resp.text
    assert _work(app, settings) == 1
    with app.state.sessionmaker() as s:
        job = s.get(Job, resp.json()["job_id"])
        assert job.status == "done", job.error
        return job.result


async def test_train_promote_reject_restore(client, app, settings):
    await _dataset(client)
    first = await _train(client, app, settings, **FAST)
    assert first["promoted"] and first["holdout"]["n"] > 0
    assert first["holdout"]["mape"] < 60
    # untrained; not roofline, whose analytic start alone fits these linear-in-MACs devices
    worse = await _train(client, app, settings, epochs=0, ensemble=1, hidden_channels=4, contribution="exp")
    assert not worse["promoted"], worse
    versions = (await client.get("/v1/predictors")).json()
    status = {v["version"]: v["status"] for v in versions}
    assert status == {first["version"]: "active", worse["version"]: "rejected"}
    by_version = {v["version"]: v for v in versions}
    cmp = by_version[worse["version"]]["metrics"]["comparison"]
    assert cmp["new"]["mape"] > cmp["current"]["mape"] and cmp["new"]["n"] == cmp["current"]["n"]
    assert (settings.data_dir / "predictors" / "perfsage" / f"{first['version']}.pt").exists()

    url = f"/v1/predictors/perfsage/versions/{worse['version']}/restore"
    assert (await client.post(url)).status_code == 401
    resp = await client.post(url, headers=ADMIN)
    assert resp.status_code == 200 and resp.json()["status"] == "active"
    status = {v["version"]: v["status"] for v in (await client.get("/v1/predictors")).json()}
    assert status == {first["version"]: "archived", worse["version"]: "active"}
    missing = await client.post("/v1/predictors/perfsage/versions/nope/restore", headers=ADMIN)
    assert missing.status_code == 404


async def test_active_cache_follows_promotion(client, app, settings):
    from service.training.registry import ActivePredictors

    await _dataset(client)
    cache = ActivePredictors(settings.data_dir, reload_s=0)
    with app.state.sessionmaker() as s:
        assert cache.get(s) is None
    first = await _train(client, app, settings, **FAST)
    with app.state.sessionmaker() as s:
        loaded = cache.get(s)
        assert loaded.version == first["version"] and set(loaded.predictor.devices) == set(DEVICES)


async def test_train_requests_are_checked_and_deduplicated(client, app, settings):
    assert (await client.post("/v1/predictors/train", json={})).status_code == 401
    bad = await client.post("/v1/predictors/train", json={"epochs": -1}, headers=ADMIN)
    assert bad.status_code == 422
    unknown = await client.post("/v1/predictors/train", json={"bogus": 1}, headers=ADMIN)
    assert unknown.status_code == 422
    for body in ({"workers": 0}, {"workers": 65}, {"workers": "two"}):
        resp = await client.post("/v1/predictors/train", json=body, headers=ADMIN)
        assert resp.status_code == 422 and "workers" in resp.text, body
    a = (await client.post("/v1/predictors/train", json={}, headers=ADMIN)).json()
    b = (await client.post("/v1/predictors/train", json={}, headers=ADMIN)).json()
    assert a["new"] and not b["new"] and a["job_id"] == b["job_id"]


async def test_train_without_data_fails_clearly(client, app, settings):
    resp = await client.post("/v1/predictors/train", json={}, headers=ADMIN)
    assert _work(app, settings) == 2  # retried once (max_attempts=2), then failed
    with app.state.sessionmaker() as s:
        job = s.get(Job, resp.json()["job_id"])
        assert job.status == "failed" and "not enough data" in job.error


async def test_train_job_members_in_parallel_processes(client, app, settings):
    await _dataset(client)
    result = await _train(client, app, settings, **{**FAST, "epochs": 6, "workers": 2})
    assert result["promoted"] and result["holdout"]["n"] > 0
    from predictor.artifacts import load_checkpoint

    ckpt = load_checkpoint(settings.data_dir / "predictors" / "perfsage" / f"{result['version']}.pt")
    assert len(ckpt.members) == 2 and "workers" not in ckpt.meta["train_config"]


async def test_train_job_data_parallel_with_torchrun(client, app, settings):
    await _dataset(client)
    result = await _train(client, app, settings, ddp=2, epochs=8, ensemble=1, hidden_channels=16)
    assert result["promoted"] and result["holdout"]["n"] > 0
    versions = (await client.get("/v1/predictors")).json()
    assert [v["status"] for v in versions] == ["active"]
    from predictor.artifacts import load_checkpoint

    ckpt = load_checkpoint(settings.data_dir / "predictors" / "perfsage" / f"{result['version']}.pt")
    assert ckpt.meta["training_data"]["ddp_world_size"] == 2
    assert not (settings.data_dir / "tmp").exists() or not any((settings.data_dir / "tmp").iterdir())
