"""Schemathesis against the OpenAPI spec of a running server, every operation, with
and without credentials: no server errors, every response matching its schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.live_server import live_server
from tests.service import databases

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN_KEY = "fuzz-admin-key-0123456789abcdef"
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module", params=databases.backends())
def server(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    url = databases.create_pg_database("edgeperf_fuzz") if request.param == "postgresql" else None
    try:
        with live_server(tmp, url, ADMIN_KEY, EDGEPERF_AUTH_FAILURE_LIMIT="100000") as srv:
            yield srv
    finally:
        if url:
            databases.drop_pg_database(url)


def _device_token(base: str) -> str:
    body = {"name": "fuzz-device", "runtime": "onnxruntime", "hardware": {"cpu": "fuzz"}}
    r = httpx.post(f"{base}/v1/devices", json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    if r.status_code == 409:
        pytest.fail("fuzz device already exists")
    assert r.status_code == 201, r.text
    return r.json()["token"]


def _run(base: str, tmp_path: Path, headers: list[str]) -> subprocess.CompletedProcess:
    args = [
        SCHEMATHESIS, "run", f"{base}/openapi.json",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "15",
        "--workers", "1",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        "--seed", "1",
        "--exclude-path-regex", "^/(metrics|dashboard)",
        "--no-color",
    ]
    for h in headers:
        args += ["-H", h]
    return subprocess.run(args, capture_output=True, text=True, timeout=1500, cwd=tmp_path)


@pytest.mark.parametrize("auth", ["none", "admin", "device", "bad"])
def test_fuzz_every_operation(server, auth, tmp_path):
    headers = {
        "none": [],
        "admin": [f"Authorization: Bearer {ADMIN_KEY}"],
        "device": [f"Authorization: Bearer {_device_token(server.url)}"] if auth == "device" else [],
        "bad": ["Authorization: Bearer not-a-valid-token"],
    }[auth]
    done = _run(server.url, tmp_path, headers)
    tail = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, tail
    assert "Server error" not in done.stdout, tail
