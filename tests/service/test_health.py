from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_readyz_reports_an_unreachable_database(client, app):
    app.state.engine.dispose()
    app.state.engine = __import__("service.db", fromlist=["make_engine"]).make_engine(
        "postgresql+psycopg://127.0.0.1:1/none?connect_timeout=1"
    )
    resp = await client.get("/readyz")
    assert resp.status_code == 503 and resp.json() == {
        "error": "unavailable",
        "detail": "database unreachable",
    }


async def test_metrics_count_requests_by_route(client):
    await client.get("/v1/devices")
    await client.get("/v1/devices/7")
    text = (await client.get("/metrics")).text
    assert 'edgeperf_http_requests_total{method="GET",route="/v1/devices",status="200"} 1.0' in text
    assert 'route="/v1/devices/{device_id}",status="404"} 1.0' in text
    assert "edgeperf_http_request_duration_seconds_bucket" in text


async def test_openapi_documents_v1(client):
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/v1/devices", "/v1/graphs", "/v1/graphs/{graph_id}", "/v1/measurements"} <= set(paths)
    upload = paths["/v1/graphs"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
