"""Input that no database can hold is refused with 4xx on both backends, never a 500."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import DataError

from tests.service.conftest import ADMIN, bearer, make_device
from tests.service.model_files import onnx_bytes

pytestmark = pytest.mark.anyio

HUGE = 35792907921577369778782208


@pytest.mark.parametrize(
    "url",
    [
        f"/v1/devices/{HUGE}",
        f"/v1/graphs/{HUGE}",
        f"/v1/graphs/{HUGE}/file",
        f"/v1/measurements?graph_id={HUGE}",
        f"/v1/measurements?device_id={HUGE}",
        f"/v1/devices?offset={HUGE}",
    ],
)
async def test_out_of_range_ids_are_422(client, url):
    resp = await client.get(url)
    assert resp.status_code == 422 and resp.json()["error"] == "validation_error"


@pytest.mark.parametrize("text", ["nul\x00byte", "lone\ud800surrogate"])
async def test_unstorable_text_in_devices(client, text):
    for body in (
        {"name": "ok", "runtime": text},
        {"name": "ok", "runtime": "ort", "profile": {"nested": [text]}},
        {"name": "ok", "runtime": "ort", "profile": {text: 1}},
    ):
        raw = json.dumps(body).encode()
        resp = await client.post(
            "/v1/devices", content=raw, headers={**ADMIN, "content-type": "application/json"}
        )
        assert resp.status_code == 422, resp.text
    assert (await client.get("/v1/devices")).json()["total"] == 0


async def test_unstorable_values_in_measurements(client):
    device = await make_device(client)
    graph = (await client.post("/v1/graphs", files={"file": ("n.onnx", onnx_bytes())})).json()
    base = {
        "client_id": "a",
        "graph_id": graph["id"],
        "median_ms": 1.0,
        "measured_at": "2026-11-25T00:00:00Z",
    }
    for item in (
        {**base, "client_id": "a\x00"},
        {**base, "extra": {"note": "\ud800"}},
        {**base, "graph_id": HUGE},
    ):
        raw = json.dumps({"items": [item]}).encode()
        headers = {**bearer(device["token"]), "content-type": "application/json"}
        resp = await client.post("/v1/measurements", content=raw, headers=headers)
        assert resp.status_code == 422, resp.text
    assert (await client.get("/v1/measurements")).json()["total"] == 0


@pytest.mark.parametrize(
    "exc",
    [
        OverflowError("int too large"),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "x"),
        DataError("INSERT ...", {}, ValueError("NUL byte")),
    ],
)
async def test_safety_net_maps_unstorable_values_to_422(app, client, exc):
    def boom() -> None:
        raise exc

    app.add_api_route("/test-boom", boom)
    resp = await client.get("/test-boom")
    assert resp.status_code == 422 and resp.json()["error"] == "invalid_data"
