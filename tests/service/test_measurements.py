from __future__ import annotations

import pytest

from tests.service.conftest import ADMIN, bearer, make_device
from tests.service.model_files import onnx_bytes

pytestmark = pytest.mark.anyio


def item(client_id: str, graph_id: int | None = None, graph_sha256: str | None = None, **fields) -> dict:
    body = {
        "client_id": client_id,
        "samples_ms": [1.5, 1.25, 1.75, 1.5],
        "median_ms": 1.5,
        "p10_ms": 1.3,
        "p90_ms": 1.7,
        "mad_ms": 0.125,
        "load_ms": 12.0,
        "first_ms": 3.0,
        "peak_memory_mb": 42.5,
        "agent_version": "0.1.0",
        "runtime": "onnxruntime",
        "runtime_version": "1.32.0",
        "threads": 1,
        "measured_at": "2026-11-25T03:00:00Z",
        **fields,
    }
    if graph_id is not None:
        body["graph_id"] = graph_id
    if graph_sha256 is not None:
        body["graph_sha256"] = graph_sha256
    return body


@pytest.fixture
async def setup(client):
    device = await make_device(client)
    graph = (await client.post("/v1/graphs", files={"file": ("net.onnx", onnx_bytes())})).json()
    return device, graph


async def post(client, token: str, items: list[dict], **extra):
    return await client.post("/v1/measurements", json={"items": items, **extra}, headers=bearer(token))


async def test_ingest_is_idempotent(client, setup):
    device, graph = setup
    batch = [item(f"m{i}", graph_id=graph["id"]) for i in range(3)]
    assert (await post(client, device["token"], batch)).json() == {"inserted": 3, "duplicates": 0}
    assert (await post(client, device["token"], batch)).json() == {"inserted": 0, "duplicates": 3}
    mixed = [item("m0", graph_id=graph["id"]), item("m9", graph_sha256=graph["sha256"])]
    assert (await post(client, device["token"], mixed)).json() == {"inserted": 1, "duplicates": 1}
    same_twice = [item("m10", graph_id=graph["id"]), item("m10", graph_id=graph["id"])]
    assert (await post(client, device["token"], same_twice)).json() == {"inserted": 1, "duplicates": 1}
    listed = (await client.get("/v1/measurements", params={"device_id": device["id"]})).json()
    assert listed["total"] == 5
    first = listed["items"][0]
    assert first["samples_ms"] == [1.5, 1.25, 1.75, 1.5] and first["latency_ms"] == 1.5
    assert first["energy_mj"] is None and first["measured_at"].startswith("2026-11-25T03:00:00")


async def test_client_ids_are_per_device(client, setup):
    device, graph = setup
    other = await make_device(client, name="other")
    assert (await post(client, device["token"], [item("same", graph_id=graph["id"])])).json()["inserted"] == 1
    assert (await post(client, other["token"], [item("same", graph_id=graph["id"])])).json()["inserted"] == 1
    only_other = (await client.get("/v1/measurements", params={"device_id": other["id"]})).json()
    assert only_other["total"] == 1 and only_other["items"][0]["device_id"] == other["id"]


async def test_unknown_graph_rejects_whole_batch(client, setup):
    device, graph = setup
    batch = [
        item("ok", graph_id=graph["id"]),
        item("bad", graph_id=graph["id"] + 100),
        item("bad2", graph_sha256="0" * 64),
    ]
    resp = await post(client, device["token"], batch)
    assert resp.status_code == 422 and resp.json()["error"] == "unknown_graph"
    assert "bad" in resp.json()["detail"] and "bad2" in resp.json()["detail"]
    assert (await client.get("/v1/measurements")).json()["total"] == 0


@pytest.mark.parametrize("token_kind", ["none", "admin", "garbage", "wrong_secret", "huge_id"])
async def test_needs_a_device_token(client, setup, token_kind):
    device, graph = setup
    token = {
        "none": "",
        "admin": ADMIN["Authorization"].split()[1],
        "garbage": "not-a-token",
        "wrong_secret": f"{device['id']}.nope",
        "huge_id": "99999999999999999999.x",
    }[token_kind]
    headers = bearer(token) if token else {}
    resp = await client.post(
        "/v1/measurements", json={"items": [item("a", graph_id=graph["id"])]}, headers=headers
    )
    assert resp.status_code == 401 and resp.json()["error"] == "unauthorized"


async def test_token_only_posts_for_its_device(client, setup):
    device, graph = setup
    other = await make_device(client, name="other")
    resp = await post(client, device["token"], [item("a", graph_id=graph["id"])], device_id=other["id"])
    assert resp.status_code == 403
    ok = await post(client, device["token"], [item("a", graph_id=graph["id"])], device_id=device["id"])
    assert ok.json() == {"inserted": 1, "duplicates": 0}


@pytest.mark.parametrize(
    "bad",
    [
        {"median_ms": -1.0},
        {"samples_ms": [1.0, -2.0]},
        {"measured_at": "2026-11-25T03:00:00"},
        {"graph_sha256": "a" * 64},
        {"client_id": ""},
        {"unexpected": 1},
    ],
)
async def test_invalid_items_are_422(client, setup, bad):
    device, graph = setup
    resp = await post(client, device["token"], [{**item("a", graph_id=graph["id"]), **bad}])
    assert resp.status_code == 422 and resp.json()["error"] == "validation_error"
    assert (await client.get("/v1/measurements")).json()["total"] == 0


async def test_empty_batch_is_422(client, setup):
    device, _ = setup
    assert (await post(client, device["token"], [])).status_code == 422


async def test_ingest_function_is_shared_by_importers(app, setup):
    """The public-data importer calls the same service function directly."""
    from service.measurement.schemas import MeasurementIn
    from service.measurement.service import ingest

    device, graph = setup
    items = [MeasurementIn.model_validate(item(f"imp{i}", graph_sha256=graph["sha256"])) for i in range(450)]
    with app.state.sessionmaker() as session, session.begin():
        assert ingest(session, device["id"], items).inserted == 450
    with app.state.sessionmaker() as session, session.begin():
        assert ingest(session, device["id"], items).duplicates == 450
