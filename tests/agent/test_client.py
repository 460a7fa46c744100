"""AgentClient against a real local HTTP server (http.server in a thread)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.client import AgentClient, ApiError, Unreachable


class _Handler(BaseHTTPRequestHandler):
    failures_left = 0
    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen.append((self.path, self.headers.get("Authorization", "")))
        if self.path == "/v1/measurements" and type(self).failures_left > 0:
            type(self).failures_left -= 1
            return self._reply(503, {"error": "unavailable", "detail": "busy"})
        if self.path == "/v1/measurements":
            return self._reply(200, {"inserted": len(json.loads(body)["items"]), "duplicates": 0})
        return self._reply(422, {"error": "validation_error", "detail": "bad"})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_retries_5xx_with_backoff_then_succeeds(server):
    _Handler.failures_left = 2
    client = AgentClient(server, "7.secret", retries=3, backoff_s=0.01)
    assert client.post_measurements([{"client_id": "a"}]) == {"inserted": 1, "duplicates": 0}
    assert len(_Handler.seen) == 3 and _Handler.seen[0][1] == "Bearer 7.secret"


def test_4xx_is_not_retried(server):
    client = AgentClient(server, "t", retries=3, backoff_s=0.01)
    with pytest.raises(ApiError) as info:
        client.fail(1, "a", "boom")
    assert info.value.status == 422 and info.value.code == "validation_error" and len(_Handler.seen) == 1


def test_unreachable_after_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AgentClient(f"http://127.0.0.1:{port}", "t", retries=2, backoff_s=0.01)
    with pytest.raises(Unreachable):
        client.lease("a")
