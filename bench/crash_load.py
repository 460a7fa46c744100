"""Load with a crash: N concurrent agents post measurement batches (each item with a
client id) while prediction clients run; the server is killed with SIGKILL mid-load
and restarted on the same PostgreSQL database. Afterwards every acknowledged
measurement must be in the database exactly once.

    .venv/bin/python -m bench.crash_load --agents 50 --batches 20 --batch-size 10

Prints a table: requests sent, acknowledged, transport errors (the crash window),
server errors (5xx), p50/p99 latency per request kind, and the database check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ADMIN_KEY = "load-admin-key-0123456789abcdef"


@dataclass
class Stats:
    """Thread-safe tallies of one request kind."""

    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    transport_errors: int = 0
    server_errors: int = 0
    client_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, status: int | None) -> None:
        with self.lock:
            self.sent += 1
            if status is None:
                self.transport_errors += 1
                return
            self.latencies.append(seconds)
            if status >= 500:
                self.server_errors += 1
            elif status >= 400:
                self.client_errors += 1

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Acked:
    ids: dict[int, set[str]] = field(default_factory=dict)  # device id -> acknowledged client ids
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, device_id: int, client_ids: list[str]) -> None:
        with self.lock:
            self.ids.setdefault(device_id, set()).update(client_ids)

    def total(self) -> int:
        return sum(len(v) for v in self.ids.values())


def _item(graph_id: int, client_id: str, k: int) -> dict:
    samples = [1.0 + 0.01 * ((k * 7 + j) % 13) for j in range(30)]
    return {
        "client_id": client_id,
        "graph_id": graph_id,
        "samples_ms": samples,
        "median_ms": statistics.median(samples),
        "runtime": "onnxruntime",
        "threads": 1,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(),
    }


def post_until_acked(
    http: httpx.Client, stats: Stats, items: list[dict], deadline: float
) -> dict | None:
    """Post one batch, resending the same items (same client ids) until the server
    acknowledges it; the agent's outbox does the same across restarts."""
    delay = 0.05
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            r = http.post("/v1/measurements", json={"items": items})
        except httpx.TransportError:
            stats.record(time.perf_counter() - started, None)
        else:
            stats.record(time.perf_counter() - started, r.status_code)
            if r.status_code == 200 or r.status_code == 201:
                return r.json()
            if r.status_code < 500 and r.status_code != 429:
                raise RuntimeError(f"batch refused: {r.status_code} {r.text[:300]}")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    return None


def agent_loop(base, token, device_id, graph_id, batches, batch_size, stats, acked, deadline) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        for b in range(batches):
            ids = [f"d{device_id}-b{b}-i{i}" for i in range(batch_size)]
            items = [_item(graph_id, cid, b * batch_size + i) for i, cid in enumerate(ids)]
            answer = post_until_acked(http, stats, items, deadline)
            if answer is None:
                return
            acked.add(device_id, ids)


def predict_loop(base, body, stats, stop: threading.Event) -> None:
    with httpx.Client(base_url=base, timeout=30) as http:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                r = http.post("/v1/predictions", json=body)
                stats.record(time.perf_counter() - started, r.status_code)
            except httpx.TransportError:
                stats.record(time.perf_counter() - started, None)
                time.sleep(0.1)


def setup(base: str, agents: int, ir: dict) -> list[tuple[int, str]]:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    devices = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for i in range(agents):
            r = http.post("/v1/devices", headers=admin, json={"name": f"load-agent-{i}", "runtime": "onnxruntime"})
            r.raise_for_status()
            devices.append((r.json()["id"], r.json()["token"]))
        r = http.post("/v1/predictions", json={"ir": ir, "devices": ["dev-a"]})
        r.raise_for_status()
    return devices


def upload_graph(base: str, model: bytes) -> int:
    r = httpx.post(f"{base}/v1/graphs", files={"file": ("load.onnx", model)}, timeout=60)
    r.raise_for_status()
    return r.json()["id"]


def check_database(pg_url: str, acked: Acked) -> dict:
    """Every acknowledged (device, client id) present once; no duplicates at all."""
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT device_id, client_id FROM measurements").fetchall()
        dupes = conn.execute(
            "SELECT count(*) FROM (SELECT device_id, client_id FROM measurements"
            " GROUP BY device_id, client_id HAVING count(*) > 1) d"
        ).fetchone()[0]
    stored: dict[int, set[str]] = {}
    for device_id, client_id in rows:
        stored.setdefault(device_id, set()).add(client_id)
    missing = sum(len(ids - stored.get(d, set())) for d, ids in acked.ids.items())
    return {"stored": len(rows), "acknowledged": acked.total(), "missing": missing, "duplicated": dupes}


def run(
    *, agents: int, batches: int, batch_size: int, predictors: int, kill_fraction: float, workdir: Path,
    pg_url: str, checkpoint_dir: Path, ir: dict, model: bytes, timeout_s: float = 600,
) -> dict:
    from tests.live_server import live_server

    post, pred = Stats(), Stats()
    acked = Acked()
    with live_server(workdir, pg_url, ADMIN_KEY, EDGEPERF_PREDICTOR_DIR=str(checkpoint_dir)) as server:
        devices = setup(server.url, agents, ir)
        graph_id = upload_graph(server.url, model)
        deadline = time.monotonic() + timeout_s
        stop = threading.Event()
        body = {"ir": ir, "devices": ["dev-a"], "targets": ["latency", "memory"]}
        threads = [
            threading.Thread(target=agent_loop, args=(server.url, tok, dev, graph_id, batches, batch_size, post, acked, deadline))
            for dev, tok in devices
        ]
        pthreads = [threading.Thread(target=predict_loop, args=(server.url, body, pred, stop)) for _ in range(predictors)]
        started = time.perf_counter()
        for t in threads + pthreads:
            t.start()
        expected = agents * batches * batch_size
        while acked.total() < kill_fraction * expected and time.monotonic() < deadline:
            time.sleep(0.01)
        acked_before_kill = acked.total()
        server.kill()
        killed_at = time.perf_counter() - started
        server.start()
        for t in threads:
            t.join()
        stop.set()
        for t in pthreads:
            t.join()
        wall = time.perf_counter() - started
    db = check_database(pg_url, acked)
    return {
        "agents": agents, "predictors": predictors, "wall_s": wall, "killed_at_s": killed_at,
        "acked_before_kill": acked_before_kill, "post": post, "predict": pred, "db": db,
        "expected": agents * batches * batch_size,
    }


def print_report(result: dict) -> None:
    print(f"agents={result['agents']} prediction clients={result['predictors']} wall={result['wall_s']:.1f} s; "
          f"SIGKILL at {result['killed_at_s']:.1f} s with {result['acked_before_kill']} measurements acknowledged")
    print(f"{'kind':<22}{'requests':>10}{'2xx/4xx ok':>12}{'transport err':>15}{'5xx':>6}{'p50 ms':>9}{'p99 ms':>9}")
    for kind in ("post", "predict"):
        s: Stats = result[kind]
        ok = s.sent - s.transport_errors - s.server_errors
        label = "POST /v1/measurements" if kind == "post" else "POST /v1/predictions"
        print(f"{label:<22}{s.sent:>10}{ok:>12}{s.transport_errors:>15}{s.server_errors:>6}"
              f"{s.quantile(0.5):>9.1f}{s.quantile(0.99):>9.1f}")
    db = result["db"]
    print(f"database: expected {result['expected']} measurements, acknowledged {db['acknowledged']}, stored {db['stored']}, "
          f"missing {db['missing']}, duplicated {db['duplicated']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--predictors", type=int, default=4)
    parser.add_argument("--kill-at", type=float, default=0.4, help="SIGKILL once this fraction is acknowledged")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.service import databases
    from tests.service.checkpoints import build_checkpoint, nb201_graphs
    from tests.service.model_files import onnx_bytes

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "ckpt").mkdir()
        build_checkpoint(tmp_path / "ckpt")
        pg_url = databases.create_pg_database("edgeperf_load")
        try:
            result = run(agents=args.agents, batches=args.batches, batch_size=args.batch_size,
                         predictors=args.predictors, kill_fraction=args.kill_at, workdir=tmp_path,
                         pg_url=pg_url, checkpoint_dir=tmp_path / "ckpt", ir=nb201_graphs()[0].to_dict(),
                         model=onnx_bytes())
        finally:
            databases.drop_pg_database(pg_url)
    print_report(result)
    db = result["db"]
    return 0 if db["missing"] == 0 and db["duplicated"] == 0 and result["post"].server_errors == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
