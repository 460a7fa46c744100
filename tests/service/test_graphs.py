from __future__ import annotations

import json

import pytest

from service.graph.storage import sha256_hex
from tests.service.model_files import onnx_bytes

pytestmark = pytest.mark.anyio


async def upload(client, data: bytes, name: str = "net.onnx", **form):
    return await client.post("/v1/graphs", files={"file": (name, data)}, data=form)


async def test_upload_onnx_returns_summary_and_dedups(client, app):
    data = onnx_bytes()
    first = await upload(client, data)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["format"] == "onnx" and body["sha256"] == sha256_hex(data)
    summary = body["summary"]
    assert summary["nodes"] >= 5 and summary["edges"] >= 4
    assert summary["macs"] > 0 and summary["params"] > 0 and summary["unknown_ops"] == 0
    assert summary["op_histogram"]["conv"] == 2
    again = await upload(client, data, name="renamed.onnx")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    stored = app.state.graph_store.get(body["file_sha256"])
    assert stored == data


async def test_input_shapes_make_another_graph(client):
    data = onnx_bytes()
    plain = (await upload(client, data)).json()
    shaped = await upload(client, data, input_shapes=json.dumps({"x": [4, 3, 32, 32]}))
    assert shaped.status_code == 201
    body = shaped.json()
    assert body["id"] != plain["id"] and body["file_sha256"] == plain["file_sha256"]
    assert body["summary"]["inputs"]["x"] == [4, 3, 32, 32]
    assert body["summary"]["macs"] == 4 * plain["summary"]["macs"]


async def test_get_list_and_file(client):
    a = (await upload(client, onnx_bytes(8))).json()
    b = (await upload(client, onnx_bytes(16))).json()
    detail = (await client.get(f"/v1/graphs/{a['id']}")).json()
    assert detail["ir"]["format"] == "onnx" and len(detail["ir"]["nodes"]) == detail["summary"]["nodes"]
    page = (await client.get("/v1/graphs", params={"limit": 1, "offset": 1})).json()
    assert page["total"] == 2 and [g["id"] for g in page["items"]] == [b["id"]]
    assert "ir" not in page["items"][0]
    file = await client.get(f"/v1/graphs/{a['id']}/file")
    assert file.status_code == 200 and file.content == onnx_bytes(8)
    assert (await client.get("/v1/graphs/12345")).json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("data", "name", "form", "status", "error"),
    [
        (b"", "empty.onnx", {}, 422, None),
        (b"%PDF-1.4 definitely not a model", "doc.pdf", {}, 415, "unknown_format"),
        (b"\x08\x07\x12\x04" + b"\xff" * 64, "broken.onnx", {}, 422, None),
        ("TRUNCATED", "net.onnx", {}, 422, None),
        ("ONNX", "net.onnx", {"input_shapes": "{not json"}, 422, "invalid_input_shapes"),
        ("ONNX", "net.onnx", {"input_shapes": '{"x": [1, -3]}'}, 422, "invalid_input_shapes"),
        ("ONNX", "net.onnx", {"input_shapes": "[1, 2]"}, 422, "invalid_input_shapes"),
    ],
)
async def test_bad_uploads_are_4xx_and_store_nothing(client, app, data, name, form, status, error):
    if data == "TRUNCATED":
        data = onnx_bytes()[: len(onnx_bytes()) // 2]
    elif data == "ONNX":
        data = onnx_bytes()
    resp = await upload(client, data, name=name, **form)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) >= {"error", "detail"} and body["detail"]
    if error:
        assert body["error"] == error
    assert (await client.get("/v1/graphs")).json()["total"] == 0
    root = app.state.graph_store.root
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))


async def test_missing_file_field(client):
    resp = await client.post("/v1/graphs", data={"input_shapes": "{}"})
    assert resp.status_code == 422 and resp.json()["error"] == "validation_error"


@pytest.fixture
async def limited(settings, clean_db):
    """A client on an app whose limits are set per test: ``async with limited(**fields) as client``."""
    import contextlib

    import httpx

    from service.main import create_app

    @contextlib.asynccontextmanager
    async def make(**fields):
        app = create_app(settings.model_copy(update=fields))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client

    return make


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"max_upload_bytes": 1000}, 413, "too_large"),
        ({"max_graph_nodes": 3}, 413, "too_large"),
        ({"max_tensor_elements": 100}, 413, "too_large"),
        ({"parse_timeout_s": 1e-9}, 422, "timeout"),
    ],
)
async def test_limits(limited, fields, status, error):
    async with limited(**fields) as client:
        resp = await upload(client, onnx_bytes())
        assert resp.status_code == status, resp.text
        assert resp.json()["error"] == error
        assert (await client.get("/v1/graphs")).json()["total"] == 0


async def test_oversized_bodies_are_cut_off(limited):
    async with limited(max_upload_bytes=1000) as client:
        big = b"x" * (3 * 1024 * 1024)
        declared = await client.post(
            "/v1/graphs", content=big, headers={"content-type": "multipart/form-data; boundary=b"}
        )
        assert declared.status_code == 413 and declared.json()["error"] == "too_large"

        async def chunks():
            for _ in range(48):
                yield b"y" * 65536

        streamed = await client.post(
            "/v1/measurements", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413 and streamed.json()["error"] == "too_large"
