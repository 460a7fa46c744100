"""The prediction API serves what the database says: a version promoted by the worker or
restored by an admin (on every replica, without a restart), a device's calibrated model,
and the shipped checkpoints for the devices neither knows."""

from __future__ import annotations

import anyio
import httpx
import pytest

from predictor.artifacts import load_checkpoint, load_default_predictors
from predictor.graph.ir import Graph
from service.config import Settings
from service.main import create_app
from service.models import Device
from tests.service.conftest import ADMIN, make_settings
from tests.service.perf_data import analytic_latency, post_latencies, register
from tests.service.test_training import FAST, _dataset, _train, _work

pytestmark = pytest.mark.anyio

SHIPPED = "help-pixel3"  # a device of the shipped help.pt


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:
    return make_settings(database_url, tmp_path, predictor_reload_s=0)


@pytest.fixture(scope="module")
def shipped_version() -> str:
    return load_default_predictors()["help"].version


async def _graph_ids(client, n: int = 3) -> list[int]:
    return [g["id"] for g in (await client.get("/v1/graphs", params={"limit": n})).json()["items"]]


async def _versions(client, graph_id: int, devices: list[str]) -> dict[str, str]:
    resp = await client.post("/v1/predictions", json={"graph_id": graph_id, "devices": devices})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["predictor_version"] == ",".join(dict.fromkeys(body["predictor_versions"].values()))
    return body["predictor_versions"]


async def _batch_version(client, graph_ids: list[int], device: str) -> str:
    items = [{"graph_id": g} for g in graph_ids]
    resp = await client.post("/v1/predictions/batch", json={"items": items, "devices": device})
    assert resp.status_code == 200 and resp.json()["succeeded"] == len(graph_ids), resp.text
    return resp.json()["predictor_version"]


async def _eventually(client, graph_id: int, device: str, version: str, within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.1)):
        if (await _versions(client, graph_id, [device]))[device] == version:
            return
        await anyio.sleep(0.1)
    raise AssertionError(f"{device} not served by {version} within {within_s} s")


async def _restore(client, version: str) -> None:
    resp = await client.post(f"/v1/predictors/perfsage/versions/{version}/restore", headers=ADMIN)
    assert resp.status_code == 200, resp.text


async def test_promoted_and_restored_versions_are_served_on_every_replica(
    client, app, settings, shipped_version
):
    await _dataset(client)
    graphs = await _graph_ids(client)
    before = await client.post("/v1/predictions", json={"graph_id": graphs[0], "devices": "board-a"})
    assert before.status_code == 409 and before.json()["error"] == "no_predictor"
    replica = create_app(settings.model_copy(update={"predictor_reload_s": 1.0}))
    async with replica.router.lifespan_context(replica):
        transport = httpx.ASGITransport(app=replica)
        async with httpx.AsyncClient(transport=transport, base_url="http://replica") as other:
            promoted = await _train(client, app, settings, **FAST)
            assert promoted["promoted"]
            first = promoted["version"]
            served = await _versions(client, graphs[0], ["board-a", SHIPPED])
            assert served == {"board-a": first, SHIPPED: shipped_version}  # shipped: the fallback
            assert await _batch_version(client, graphs, "board-b") == first
            await _eventually(other, graphs[0], "board-a", first)

            worse = await _train(client, app, settings, epochs=0, ensemble=1, hidden_channels=4, contribution="exp")
            assert not worse["promoted"]
            assert (await _versions(client, graphs[0], ["board-a"]))["board-a"] == first
            await _restore(client, worse["version"])
            assert (await _versions(client, graphs[1], ["board-b"]))["board-b"] == worse["version"]
            assert await _batch_version(client, graphs, "board-a") == worse["version"]
            await _eventually(other, graphs[0], "board-a", worse["version"])  # no restart

            await _restore(client, first)
            assert (await _versions(client, graphs[0], ["board-a"]))["board-a"] == first
            await _eventually(other, graphs[0], "board-b", first)


async def test_a_calibrated_device_is_answered_by_its_calibrated_model(client, app, settings):
    await _dataset(client)
    first = (await _train(client, app, settings, **FAST))["version"]
    device = await register(client, "new-board")  # queues its calibration
    graphs = (await client.get("/v1/graphs", params={"limit": 8})).json()["items"]
    resp = await client.post("/v1/predictions", json={"graph_id": graphs[0]["id"], "devices": "new-board"})
    assert resp.status_code == 409 and resp.json()["error"] == "no_predictor"
    latency = [analytic_latency(g["summary"], 25.0, 0.02) for g in graphs[:6]]
    await post_latencies(client, device, [g["id"] for g in graphs[:6]], latency)
    assert _work(app, settings, ["device.drift", "calibration.fit"]) >= 2
    with app.state.sessionmaker() as s:
        cal = s.get(Device, device["id"]).profile["calibration"]
    assert cal["artifact"] and cal["base_version"] == first
    target = graphs[7]["id"]
    resp = await client.post(
        "/v1/predictions", json={"graph_id": target, "devices": ["new-board", "board-a"]}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["predictor_versions"] == {"new-board": f"{first}+calibrated", "board-a": first}
    calibrated = load_checkpoint(settings.data_dir / cal["artifact"])
    ir = (await client.get(f"/v1/graphs/{target}")).json()["ir"]
    expected = calibrated.predict([Graph.from_dict(ir)], ["new-board"], ["latency"])[0]
    value = body["predictions"]["new-board"]["latency"]["value"]
    assert value == pytest.approx(expected["predictions"]["new-board"]["latency"]["value"], rel=1e-4)
    everything = await client.post("/v1/predictions", json={"graph_id": target, "devices": "all"})
    assert set(everything.json()["predictions"]) == {"board-a", "board-b", "new-board"}


def test_start_up_imports_the_front_ends(tmp_path):
    # a fresh interpreter, as `edgeperf serve` starts: nothing has imported onnx before the lifespan
    import subprocess
    import sys

    code = (
        "import asyncio, sys\n"
        "from service.main import create_app\n"
        "app = create_app()\n"
        "before = 'predictor.frontends.onnx' in sys.modules or 'onnx' in sys.modules\n"
        "async def main():\n"
        "    async with app.router.lifespan_context(app):\n"
        "        pass\n"
        "asyncio.run(main())\n"
        "print(before, 'predictor.frontends.onnx' in sys.modules, 'predictor.frontends.tflite' in sys.modules)\n"
    )
    env = {"EDGEPERF_DATA_DIR": str(tmp_path), "EDGEPERF_ADMIN_KEY": "preload-admin-key-0123456789abcdef",
           "EDGEPERF_SEED_REFERENCE_DEVICES": "false", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "True", "True"]
