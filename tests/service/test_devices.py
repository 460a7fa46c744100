from __future__ import annotations

import pytest

from tests.service.conftest import ADMIN, bearer, make_device

pytestmark = pytest.mark.anyio


async def test_create_returns_token_once_and_reads_hide_it(client):
    created = await make_device(client, sensors=["power"], precision="int8", threads=2)
    assert created["token"].startswith(f"{created['id']}.")
    assert created["sensors"] == ["power"] and created["threads"] == 2
    got = (await client.get(f"/v1/devices/{created['id']}")).json()
    assert "token" not in got and "token_hash" not in got
    assert got["hardware"]["soc"] == "BCM2712"
    listed = (await client.get("/v1/devices")).json()
    assert listed["total"] == 1 and [d["name"] for d in listed["items"]] == ["pi5-ort-t1"]
    assert all("token" not in d for d in listed["items"])


async def test_token_is_stored_hashed(client, app):
    created = await make_device(client)
    from service.models import Device

    with app.state.sessionmaker() as session:
        row = session.get(Device, created["id"])
    secret = created["token"].split(".", 1)[1]
    assert secret not in row.token_hash and len(row.token_hash) == 64


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-key-wrong-key-123"}, {"Authorization": "Basic abc"}]
)
async def test_create_requires_admin(client, headers):
    resp = await client.post("/v1/devices", json={"name": "x", "runtime": "onnxruntime"}, headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthorized"
    assert (await client.get("/v1/devices")).json()["total"] == 0


async def test_device_token_is_not_an_admin_key(client):
    created = await make_device(client)
    resp = await client.post(
        "/v1/devices", json={"name": "y", "runtime": "litert"}, headers=bearer(created["token"])
    )
    assert resp.status_code == 401


async def test_duplicate_name_conflicts(client):
    await make_device(client)
    resp = await client.post("/v1/devices", json={"name": "pi5-ort-t1", "runtime": "litert"}, headers=ADMIN)
    assert resp.status_code == 409
    assert resp.json() == {"error": "conflict", "detail": "a device named 'pi5-ort-t1' already exists"}


async def test_validation_404_405_share_the_error_shape(client):
    bad = await client.post(
        "/v1/devices", json={"name": "", "runtime": "onnxruntime", "threads": 0}, headers=ADMIN
    )
    assert bad.status_code == 422
    body = bad.json()
    assert (
        body["error"] == "validation_error"
        and "body.name" in body["detail"]
        and "body.threads" in body["detail"]
    )
    missing = await client.get("/v1/devices/999")
    assert missing.status_code == 404 and missing.json() == {
        "error": "not_found",
        "detail": "device 999 not found",
    }
    wrong = await client.delete("/v1/devices")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    not_json = await client.post(
        "/v1/devices", content=b"{", headers={**ADMIN, "content-type": "application/json"}
    )
    assert not_json.status_code == 422 and not_json.json()["error"] == "validation_error"


async def test_pagination(client):
    for i in range(5):
        await make_device(client, name=f"dev-{i}")
    page = (await client.get("/v1/devices", params={"limit": 2, "offset": 3})).json()
    assert page["total"] == 5 and [d["name"] for d in page["items"]] == ["dev-3", "dev-4"]
    assert (await client.get("/v1/devices", params={"limit": 0})).status_code == 422
