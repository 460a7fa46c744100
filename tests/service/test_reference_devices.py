"""Start-up lists the shipped checkpoints' devices in the registry as reference devices
(idempotent, no agent token); registering such a name takes the row over and issues a token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from predictor.artifacts import load_default_predictors
from service.config import Settings
from service.main import create_app
from tests.service.conftest import ADMIN, bearer, make_device

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def shipped() -> dict[str, str]:
    """device -> the shipped checkpoint (file stem) that covers it."""
    out: dict[str, str] = {}
    for stem, predictor in sorted(load_default_predictors().items()):
        for device in predictor.devices:
            out.setdefault(device, stem)
    return out


@asynccontextmanager
async def serving(settings: Settings, seed: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh start of the service (lifespan included) on the test database."""
    app = create_app(settings.model_copy(update={"seed_reference_devices": seed}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _devices(client: httpx.AsyncClient) -> dict[str, dict]:
    page = (await client.get("/v1/devices", params={"limit": 100})).json()
    assert page["total"] == len(page["items"])
    return {d["name"]: d for d in page["items"]}


async def test_start_up_lists_the_shipped_devices_once(settings, clean_db, shipped):
    async with serving(settings) as client:
        first = await _devices(client)
    async with serving(settings) as client:  # a restart (or a second replica) adds nothing
        again = await _devices(client)
        pixel = await client.post("/v1/predictions", json={"ir": _tiny_ir(), "devices": "help-pixel3"})
        everything = await client.post("/v1/predictions", json={"ir": _tiny_ir(), "devices": "all"})
        overview = (await client.get("/v1/dashboard/overview")).json()
    assert first == again and set(first) == set(shipped)
    for name, device in first.items():
        assert device["kind"] == "reference" and "token" not in device
        assert device["profile"]["reference"]["checkpoint"] == shipped[name]
        assert f"{shipped[name]}.pt" in device["description"]
    assert pixel.status_code == 200 and pixel.json()["predictions"]["help-pixel3"]["latency"]["available"]
    assert set(everything.json()["predictions"]) == set(shipped)
    assert {d["kind"] for d in overview["devices"]} == {"reference"} and len(overview["devices"]) == len(
        shipped
    )


async def test_registering_a_reference_name_takes_it_over(settings, clean_db):
    async with serving(settings) as client:
        seeded = (await _devices(client))["help-pixel3"]
        for guess in (f"{seeded['id']}.", f"{seeded['id']}.x", f"{seeded['id']}"):
            assert await _agent_status(client, guess) == 401
        device = await make_device(client, "help-pixel3", description="our Pixel 3")
        assert device["id"] == seeded["id"] and device["kind"] == "registered" and device["token"]
        assert device["description"] == "our Pixel 3" and device["hardware"]["soc"] == "BCM2712"
        assert device["profile"]["reference"]["checkpoint"] == "help"  # provenance kept
        assert await _agent_status(client, device["token"]) == 404  # authenticated: no such graph
        body = {"name": "help-pixel3", "runtime": "litert"}
        again = await client.post("/v1/devices", json=body, headers=ADMIN)
        assert again.status_code == 409 and "already exists" in again.json()["detail"]
        pred = await client.post("/v1/predictions", json={"ir": _tiny_ir(), "devices": "help-pixel3"})
        assert pred.status_code == 200


async def test_seeding_leaves_registered_names_alone(settings, clean_db, shipped):
    async with serving(settings, seed=False) as client:
        mine = await make_device(client, "help-pixel3")
        assert await _devices(client) == {"help-pixel3": {k: v for k, v in mine.items() if k != "token"}}
    async with serving(settings) as client:
        listed = await _devices(client)
        status = await _agent_status(client, mine["token"])
    assert set(listed) == set(shipped) and status == 404
    assert listed["help-pixel3"]["kind"] == "registered" and listed["help-pixel3"]["id"] == mine["id"]


async def _agent_status(client: httpx.AsyncClient, token: str) -> int:
    """401 unless ``token`` authenticates a device (then 404: the graph does not exist)."""
    return (await client.get("/v1/agent/graphs/999999/model", headers=bearer(token))).status_code


def _tiny_ir() -> dict:
    from tests.service.checkpoints import nb201_graphs

    return nb201_graphs()[0].to_dict()
