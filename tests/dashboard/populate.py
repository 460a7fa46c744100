"""Fill a running service (in process or over HTTP) with real data through its API:
devices, uploaded models, their measurements, predictions, and a few measurement jobs.
Works with ``httpx.Client`` (sync); the async tests use :func:`plan` pieces directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.dashboard import realdata

#: Shown as text on the pages; must never become markup.
HOSTILE_SOC = '<img src=x onerror="document.title=1">'
EMPTY_DEVICE = "dash-empty-t4"


@dataclass
class Populated:
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> created device (with token)
    graphs: dict[str, dict[str, Any]] = field(default_factory=dict)  # filename -> graph
    predicted_ms: dict[str, float] = field(default_factory=dict)  # filename -> predicted latency
    jobs: list[dict[str, Any]] = field(default_factory=list)


def device_bodies() -> list[dict[str, Any]]:
    from agent.environment import describe

    env = describe()
    hardware = {"cpu_model": str(env.get("cpu_model") or ""), "cores": env.get("cores") or None}
    return [
        {"name": realdata.ORT_DEVICE, "runtime": "onnxruntime", "hardware": hardware, "threads": 1},
        {"name": realdata.LITERT_DEVICE, "runtime": "litert", "hardware": hardware, "threads": 1},
        {
            "name": EMPTY_DEVICE,
            "runtime": "onnxruntime",
            "threads": 4,
            "sensors": ["power"],
            "hardware": {"soc": HOSTILE_SOC, "cores": 4, "memory_mb": 8192},
        },
    ]


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    )
    return resp.json()


def populate(http: httpx.Client, admin: dict[str, str], models: list[realdata.Model]) -> Populated:
    out = Populated()
    for body in device_bodies():
        out.devices[body["name"]] = ok(http.post("/v1/devices", json=body, headers=admin), 201)
    for m in models:
        out.graphs[m.filename] = ok(http.post("/v1/graphs", files={"file": (m.filename, m.data)}), 201)
    for m in models:
        dev = out.devices[m.device]
        item = realdata.measurement_item(m, out.graphs[m.filename]["id"], f"dash-{m.filename}")
        token = {"Authorization": f"Bearer {dev['token']}"}
        assert ok(http.post("/v1/measurements", json={"items": [item]}, headers=token)) == {
            "inserted": 1,
            "duplicates": 0,
        }
        pred = ok(
            http.post(
                "/v1/predictions",
                json={
                    "graph_id": out.graphs[m.filename]["id"],
                    "devices": [m.device],
                    "targets": ["latency"],
                },
            )
        )
        out.predicted_ms[m.filename] = pred["predictions"][m.device]["latency"]["value"]
    out.jobs = _jobs(http, admin, out, models)
    return out


def _jobs(
    http: httpx.Client, admin: dict[str, str], out: Populated, models: list[realdata.Model]
) -> list[dict]:
    """Queue three measurement jobs on the ONNX Runtime device; the agent completes one
    (with a real measurement) and fails one for good; one stays queued."""
    dev = out.devices[realdata.ORT_DEVICE]
    onnx = [m for m in models if m.device == realdata.ORT_DEVICE][:3]
    ids = [out.graphs[m.filename]["id"] for m in onnx]
    jobs = ok(http.post(f"/v1/devices/{dev['id']}/jobs", json={"graph_ids": ids}, headers=admin), 201)["jobs"]
    token = {"Authorization": f"Bearer {dev['token']}"}
    first = ok(http.post("/v1/agent/jobs/lease", json={"agent_id": "dash-agent"}, headers=token))["job"]
    model = next(m for m in onnx if out.graphs[m.filename]["id"] == first["graph_id"])
    item = realdata.measurement_item(model, first["graph_id"], f"dash-job-{first['id']}")
    ok(
        http.post(
            f"/v1/agent/jobs/{first['id']}/complete",
            json={"agent_id": "dash-agent", "measurement": item},
            headers=token,
        )
    )
    second = ok(http.post("/v1/agent/jobs/lease", json={"agent_id": "dash-agent"}, headers=token))["job"]
    ok(
        http.post(
            f"/v1/agent/jobs/{second['id']}/fail",
            json={"agent_id": "dash-agent", "error": "runtime refused the model", "retry": False},
            headers=token,
        )
    )
    return jobs
