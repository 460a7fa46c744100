"""A real ``edgeperf serve`` process on a free loopback port, for end-to-end tests and
benchmarks (the same commands the Docker image runs: ``edgeperf migrate``, ``edgeperf serve``)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

EDGEPERF = str(Path(sys.executable).parent / "edgeperf")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    """One server process; ``kill()`` / ``start()`` restart it on the same port and database."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [EDGEPERF, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-4000:]}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def live_server(
    tmp_path: Path, database_url: str | None, admin_key: str, **extra_env: str
) -> Iterator[LiveServer]:
    """Migrate (when a database URL is given) and serve; stop on exit."""
    env = {**os.environ, "EDGEPERF_DATA_DIR": str(tmp_path / "data"), "EDGEPERF_ADMIN_KEY": admin_key}
    env.pop("EDGEPERF_DEV_MODE", None)
    env.pop("EDGEPERF_DATABASE_URL", None)
    if database_url:
        env["EDGEPERF_DATABASE_URL"] = database_url
        done = subprocess.run([EDGEPERF, "migrate"], env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"edgeperf migrate failed:\n{done.stderr[-4000:]}")
    env.update(extra_env)
    server = LiveServer(env=env, log=tmp_path / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
