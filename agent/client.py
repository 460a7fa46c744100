"""HTTP client of the agent: device-token auth, retries with exponential backoff.

Transport failures and 5xx/429 answers are retried (``retries`` times, delay doubling from
``backoff_s``); other 4xx answers raise :class:`ApiError` at once, since resending the same
request cannot succeed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

log = logging.getLogger(__name__)


class ApiError(Exception):
    """The server refused a request (4xx) with ``{"error", "detail"}``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


class Unreachable(Exception):
    """The server could not be reached (or kept failing) after all retries."""


class AgentClient:
    def __init__(self, server: str, token: str, *, timeout_s: float = 30.0, retries: int = 4,
                 backoff_s: float = 0.5, transport: httpx.BaseTransport | None = None) -> None:
        self.retries, self.backoff_s = retries, backoff_s
        self._http = httpx.Client(base_url=server.rstrip("/"), timeout=timeout_s, transport=transport,
                                  headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code < 500 and response.status_code != 429:
                    raise _api_error(response)
                reason = f"HTTP {response.status_code}"
            if attempt < self.retries:
                log.warning("client.retry", extra={"path": path, "reason": reason, "delay_s": delay})
                time.sleep(delay)
                delay *= 2
        raise Unreachable(f"{method} {path}: {reason}")

    def post_environment(self, environment: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/v1/agent/environment", json={"environment": environment}).json()

    def lease(self, agent_id: str) -> dict[str, Any] | None:
        return self.request("POST", "/v1/agent/jobs/lease", json={"agent_id": agent_id}).json().get("job")

    def model_bytes(self, graph_id: int) -> tuple[bytes, str]:
        response = self.request("GET", f"/v1/agent/graphs/{graph_id}/model")
        return response.content, response.headers.get("x-edgeperf-format", "")

    def complete(self, job_id: int, agent_id: str, measurement: dict[str, Any]) -> dict[str, Any]:
        body = {"agent_id": agent_id, "measurement": measurement}
        return self.request("POST", f"/v1/agent/jobs/{job_id}/complete", json=body).json()

    def heartbeat(self, job_id: int, agent_id: str, lease_seconds: float | None = None) -> dict[str, Any]:
        """Extend the job's lease (by the job's own ``lease_seconds`` unless given)."""
        body: dict[str, Any] = {"agent_id": agent_id}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        return self.request("POST", f"/v1/agent/jobs/{job_id}/heartbeat", json=body).json()

    def fail(self, job_id: int, agent_id: str, error: str) -> dict[str, Any]:
        body = {"agent_id": agent_id, "error": error}
        return self.request("POST", f"/v1/agent/jobs/{job_id}/fail", json=body).json()

    def post_measurements(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return self.request("POST", "/v1/measurements", json={"items": items}).json()


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        return ApiError(response.status_code, str(body.get("error", "error")), str(body.get("detail", body)))
    except ValueError:
        return ApiError(response.status_code, "error", response.text[:500])
