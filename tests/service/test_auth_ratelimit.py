"""Repeated authentication failures from one address are answered 429 (with Retry-After)
until the window passes; successful requests do not count; each area's auth shares it."""

from __future__ import annotations

import httpx
import pytest

from service.config import Settings
from service.ratelimit import AuthFailureLimiter
from tests.service.conftest import ADMIN, bearer, make_device, make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:
    return make_settings(database_url, tmp_path, auth_failure_limit=5, auth_failure_window_s=60)


async def test_admin_guessing_is_rate_limited(client: httpx.AsyncClient):
    for _ in range(3):
        assert (await client.post("/v1/devices", json={"name": "x", "runtime": "onnxruntime"}, headers=ADMIN)).status_code in (201, 409)
    for i in range(5):
        r = await client.post("/v1/devices", json={"name": f"g{i}"}, headers=bearer(f"guess-{i}"))
        assert r.status_code == 401, r.text
    r = await client.post("/v1/devices", json={"name": "y"}, headers=ADMIN)
    assert r.status_code == 429
    assert r.json()["error"] == "too_many_requests"
    assert 1 <= int(r.headers["Retry-After"]) <= 60


async def test_device_token_guessing_is_rate_limited(client: httpx.AsyncClient):
    device = await make_device(client)
    statuses = []
    for i in range(7):
        r = await client.post(
            "/v1/measurements", json={"items": []}, headers=bearer(f"{device['id']}.wrong{i}")
        )
        statuses.append(r.status_code)
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    # even the right token waits out the window: the limit is per address, not per token
    r = await client.post("/v1/measurements", json={"items": []}, headers=bearer(device["token"]))
    assert r.status_code == 429


async def test_missing_credentials_count_as_failures(client: httpx.AsyncClient):
    for _ in range(5):
        assert (await client.post("/v1/devices", json={"name": "z"})).status_code == 401
    assert (await client.post("/v1/devices", json={"name": "z"})).status_code == 429


def test_window_expires_and_addresses_are_separate(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("service.ratelimit.time.monotonic", lambda: now[0])
    limiter = AuthFailureLimiter(limit=2, window_s=10)
    limiter.record_failure("a")
    limiter.record_failure("a")
    with pytest.raises(Exception) as err:
        limiter.check("a")
    assert err.value.status_code == 429
    limiter.check("b")
    now[0] += 10.5
    limiter.check("a")
