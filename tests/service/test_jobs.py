"""Measurement jobs API (service/jobs): queue, lease, model fetch, complete, fail, isolation."""

from __future__ import annotations

import asyncio

import pytest

from tests.service.conftest import ADMIN, bearer, make_device
from tests.service.model_files import onnx_bytes, tflite_bytes

pytestmark = pytest.mark.anyio


def measurement(client_id: str, graph_id: int) -> dict:
    return {"client_id": client_id, "graph_id": graph_id, "samples_ms": [1.0, 1.1, 0.9], "median_ms": 1.0,
            "runtime": "onnxruntime", "threads": 1, "measured_at": "2026-11-25T04:00:00Z"}


@pytest.fixture
async def setup(client):
    device = await make_device(client)
    other = await make_device(client, name="other-device")
    onnx = (await client.post("/v1/graphs", files={"file": ("net.onnx", onnx_bytes())})).json()
    tfl = (await client.post("/v1/graphs", files={"file": ("net.tflite", tflite_bytes())})).json()
    return device, other, onnx, tfl


async def queue(client, device_id: int, graph_ids: list[int], **fields):
    return await client.post(f"/v1/devices/{device_id}/jobs", json={"graph_ids": graph_ids, **fields},
                             headers=ADMIN)


async def lease(client, token: str, agent: str = "a1"):
    resp = await client.post("/v1/agent/jobs/lease", json={"agent_id": agent}, headers=bearer(token))
    assert resp.status_code == 200, resp.text
    return resp.json()["job"]


async def test_queue_lease_fetch_complete(client, setup):
    device, _, onnx, tfl = setup
    resp = await queue(client, device["id"], [onnx["id"], tfl["id"]], input_shapes={"x": [2, 3, 32, 32]})
    assert resp.status_code == 201, resp.text
    jobs = resp.json()["jobs"]
    assert [j["status"] for j in jobs] == ["queued", "queued"] and jobs[0]["payload"]["format"] == "onnx"
    job = await lease(client, device["token"])
    assert job["id"] == jobs[0]["id"] and job["attempts"] == 1
    assert job["payload"]["input_shapes"] == {"x": [2, 3, 32, 32]}
    model = await client.get(f"/v1/agent/graphs/{onnx['id']}/model", headers=bearer(device["token"]))
    assert model.content == onnx_bytes() and model.headers["x-edgeperf-format"] == "onnx"
    body = {"agent_id": "a1", "measurement": measurement("c1", onnx["id"])}
    done = await client.post(f"/v1/agent/jobs/{job['id']}/complete", json=body, headers=bearer(device["token"]))
    assert done.json() == {"inserted": 1, "duplicates": 0, "job_status": "done"}
    again = await client.post(f"/v1/agent/jobs/{job['id']}/complete", json=body, headers=bearer(device["token"]))
    assert again.json() == {"inserted": 0, "duplicates": 1, "job_status": "done"}
    listed = (await client.get("/v1/measurements", params={"device_id": device["id"]})).json()
    assert listed["total"] == 1 and listed["items"][0]["client_id"] == "c1"
    second = await lease(client, device["token"])
    assert second["id"] == jobs[1]["id"] and second["payload"]["format"] == "tflite"
    assert await lease(client, device["token"]) is None


async def test_fail_counts_attempts_until_failed_for_good(client, setup):
    device, _, onnx, _ = setup
    await queue(client, device["id"], [onnx["id"]], max_attempts=2)
    statuses = []
    for _ in range(2):
        job = await lease(client, device["token"])
        resp = await client.post(f"/v1/agent/jobs/{job['id']}/fail", json={"agent_id": "a1", "error": "no op X"},
                                 headers=bearer(device["token"]))
        statuses.append((resp.json()["job_status"], resp.json()["attempts"]))
    assert statuses == [("queued", 1), ("failed", 2)]
    assert await lease(client, device["token"]) is None
    listed = (await client.get(f"/v1/devices/{device['id']}/jobs", headers=ADMIN)).json()
    assert listed["items"][0]["status"] == "failed" and listed["items"][0]["error"] == "no op X"


async def test_expired_lease_returns_job_to_queue(client, setup):
    device, _, onnx, _ = setup
    await queue(client, device["id"], [onnx["id"]], lease_seconds=1)
    first = await lease(client, device["token"], "crashed")
    assert await lease(client, device["token"], "a2") is None
    await asyncio.sleep(1.2)
    second = await lease(client, device["token"], "a2")
    assert second["id"] == first["id"] and second["attempts"] == 2
    stale = {"agent_id": "crashed", "error": "late"}
    resp = await client.post(f"/v1/agent/jobs/{first['id']}/fail", json=stale, headers=bearer(device["token"]))
    assert resp.status_code == 409 and resp.json()["error"] == "lease_lost"


async def test_device_token_acts_only_for_its_device(client, setup):
    device, other, onnx, tfl = setup
    await queue(client, device["id"], [onnx["id"]])
    assert await lease(client, other["token"]) is None
    job = await lease(client, device["token"])
    for path, body in [(f"/v1/agent/jobs/{job['id']}/complete", {"agent_id": "a1", "measurement": measurement("x", onnx["id"])}),
                       (f"/v1/agent/jobs/{job['id']}/fail", {"agent_id": "a1", "error": "e"})]:
        resp = await client.post(path, json=body, headers=bearer(other["token"]))
        assert resp.status_code == 404, resp.text
    resp = await client.get(f"/v1/agent/graphs/{onnx['id']}/model", headers=bearer(other["token"]))
    assert resp.status_code == 404
    resp = await client.get(f"/v1/agent/graphs/{tfl['id']}/model", headers=bearer(device["token"]))
    assert resp.status_code == 404  # not queued for this device
    mismatch = {"agent_id": "a1", "measurement": measurement("y", tfl["id"])}
    resp = await client.post(f"/v1/agent/jobs/{job['id']}/complete", json=mismatch, headers=bearer(device["token"]))
    assert resp.status_code == 422 and resp.json()["error"] == "graph_mismatch"


async def test_bad_requests_are_4xx(client, setup):
    device, _, onnx, _ = setup
    assert (await queue(client, device["id"], [onnx["id"], 999999])).status_code == 422
    assert (await queue(client, 999999, [onnx["id"]])).status_code == 404
    assert (await queue(client, device["id"], [])).status_code == 422
    resp = await client.post(f"/v1/devices/{device['id']}/jobs", json={"graph_ids": [onnx["id"]]},
                             headers=bearer(device["token"]))
    assert resp.status_code == 401
    resp = await client.post("/v1/agent/jobs/lease", json={"agent_id": "bad id!"}, headers=bearer(device["token"]))
    assert resp.status_code == 422
    resp = await client.post("/v1/agent/jobs/lease", json={"agent_id": "a"})
    assert resp.status_code == 401


async def test_environment_is_stored_in_profile(client, setup):
    device, *_ = setup
    env = {"device_key": "cpu-amd-epyc-onnxruntime-t1", "cpu_model": "AMD EPYC", "cores": 2}
    resp = await client.post("/v1/agent/environment", json={"environment": env}, headers=bearer(device["token"]))
    assert resp.json() == {"device_id": device["id"], "device_key": env["device_key"]}
    stored = (await client.get(f"/v1/devices/{device['id']}")).json()
    assert stored["profile"]["environment"] == env


async def test_heartbeat_extends_the_lease_of_the_holder_only(client, setup):
    device, other, onnx, _ = setup
    await queue(client, device["id"], [onnx["id"]], lease_seconds=1)
    job = await lease(client, device["token"], "a1")
    url = f"/v1/agent/jobs/{job['id']}/heartbeat"
    for _ in range(3):  # 1.5 s in all: past the 1 s lease, kept alive by heartbeats
        await asyncio.sleep(0.5)
        resp = await client.post(url, json={"agent_id": "a1"}, headers=bearer(device["token"]))
        assert resp.status_code == 200, resp.text
        assert resp.json()["job_id"] == job["id"]
    assert await lease(client, device["token"], "a2") is None
    longer = await client.post(url, json={"agent_id": "a1", "lease_seconds": 60}, headers=bearer(device["token"]))
    assert longer.json()["lease_expires_at"] > resp.json()["lease_expires_at"]
    assert (await client.post(url, json={"agent_id": "a2"}, headers=bearer(device["token"]))).status_code == 409
    assert (await client.post(url, json={"agent_id": "a1"}, headers=bearer(other["token"]))).status_code == 404
    bad = await client.post(url, json={"agent_id": "a1", "lease_seconds": 0}, headers=bearer(device["token"]))
    assert bad.status_code == 422
    body = {"agent_id": "a1", "measurement": measurement("hb", onnx["id"])}
    await client.post(f"/v1/agent/jobs/{job['id']}/complete", json=body, headers=bearer(device["token"]))
    done = await client.post(url, json={"agent_id": "a1"}, headers=bearer(device["token"]))
    assert done.status_code == 409 and done.json()["error"] == "lease_lost"
    assert (await client.post("/v1/agent/jobs/999999/heartbeat", json={"agent_id": "a1"},
                              headers=bearer(device["token"]))).status_code == 404


async def test_expired_lease_taken_by_another_agent_is_not_revived_by_heartbeat(client, setup):
    device, _, onnx, _ = setup
    await queue(client, device["id"], [onnx["id"]], lease_seconds=1)
    first = await lease(client, device["token"], "slow")
    await asyncio.sleep(1.2)
    assert (await lease(client, device["token"], "a2"))["id"] == first["id"]
    resp = await client.post(f"/v1/agent/jobs/{first['id']}/heartbeat", json={"agent_id": "slow"},
                             headers=bearer(device["token"]))
    assert resp.status_code == 409 and resp.json()["error"] == "lease_lost"
