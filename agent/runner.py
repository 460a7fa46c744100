"""The agent loop: report the environment, then lease -> fetch -> measure -> post.

Every result is written to the :class:`~agent.outbox.Outbox` before it is sent and removed
only once the server acknowledged it, so a result measured while the server is down (or
the agent is killed right after measuring) is sent later, never lost.

While a job is measured, a background thread extends its lease (``heartbeat``) every third
of the job's ``lease_seconds`` (at most every ``heartbeat_s``), so a long model is not
leased again by another agent meanwhile; it stops once the server says the lease is lost.

A model is first run in the dedicated peak-memory child (:mod:`agent.memory`): a runtime
that rejects or even crashes on the model fails the job there with the runtime's message,
and the agent process itself keeps working.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent import memory
from agent.client import AgentClient, ApiError, Unreachable
from agent.environment import describe
from agent.outbox import Outbox
from agent.protocol import MeasureError, ProtocolConfig, measure

log = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
_RESULT_KEYS = ("samples_ms", "median_ms", "p10_ms", "p90_ms", "mad_ms", "load_ms", "first_ms",
                "energy_mj", "peak_memory_mb", "runtime", "runtime_version", "threads", "input_shapes")
_EXTRA_KEYS = ("mean_ms", "min_ms", "median_all_ms", "spread", "spread_all", "round_sizes",
               "round_medians_ms", "accepted_rounds", "rounds", "remeasured", "contended",
               "preempted_fraction", "low_quantile_ms", "cpu_corrected", "cpu_ms", "sessions_of_samples", "session_medians_ms",
               "sessions", "sessions_agree", "session_spread", "round_factors", "estimate_from_round",
               "loadavg", "cpu_busy", "realtime", "warmup_runs", "delegate", "energy_sensor", "cpu_affinity", "memory",
               "protocol")


@dataclass
class AgentConfig:
    server: str
    token: str
    outbox_dir: Path = Path("agent-outbox")
    threads: int = 1
    runtime: str | None = None
    poll_s: float = 5.0
    max_jobs: int | None = None
    cpu: int | None = None
    heartbeat_s: float = 60.0
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)


def detect_format(data: bytes) -> str:
    return "tflite" if data[4:8] == b"TFL3" else "onnx"


def to_measurement(result: dict[str, Any], graph_id: int, job_id: int | None, device_key: str) -> dict[str, Any]:
    """A protocol result as one item of the ingestion API (``MeasurementIn``)."""
    item = {k: result.get(k) for k in _RESULT_KEYS}
    item.update(client_id=uuid.uuid4().hex, graph_id=graph_id, latency_ms=result["latency_ms"],
                agent_version=AGENT_VERSION, measured_at=datetime.now(UTC).isoformat())
    extra = {k: result.get(k) for k in _EXTRA_KEYS}
    extra["preempted_runs"] = [i for i, p in enumerate(result.get("preempted", [])) if p]
    extra["blocked_runs"] = [i for i, b in enumerate(result.get("blocked") or []) if b]
    extra.update(job_id=job_id, device_key=device_key)
    item["extra"] = extra
    return item


class Heartbeat:
    """Extends a job's lease from a background thread every ``interval_s`` while in use."""

    def __init__(self, client: AgentClient, job_id: int, agent_id: str, interval_s: float) -> None:
        self.client, self.job_id, self.agent_id, self.interval_s = client, job_id, agent_id, interval_s
        self.beats, self.lost = 0, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.client.heartbeat(self.job_id, self.agent_id)
            except ApiError as exc:
                if exc.status in (404, 409):  # another agent has it, or it is gone: stop trying
                    log.warning("agent.lease_lost", extra={"job_id": self.job_id, "error": str(exc)})
                    self.lost = True
                    return
                log.warning("agent.heartbeat_refused", extra={"job_id": self.job_id, "error": str(exc)})
            except Unreachable as exc:
                log.warning("agent.heartbeat_unreachable", extra={"job_id": self.job_id, "error": str(exc)})
            else:
                self.beats += 1


class Agent:
    def __init__(self, cfg: AgentConfig, client: AgentClient | None = None) -> None:
        self.cfg = cfg
        self.client = client or AgentClient(cfg.server, cfg.token)
        self.outbox = Outbox(cfg.outbox_dir)
        self.agent_id = f"{socket.gethostname()[:60]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stop = threading.Event()
        self.jobs_done = 0

    def run(self) -> int:
        self._report_environment()
        while not self.stop.is_set():
            self.flush()
            if self.cfg.max_jobs is not None and self.jobs_done >= self.cfg.max_jobs:
                break
            try:
                job = self.client.lease(self.agent_id)
            except Unreachable as exc:
                log.warning("agent.server_unreachable", extra={"error": str(exc)})
                job = None
            if job is None:
                self.stop.wait(self.cfg.poll_s)
                continue
            self.process(job)
            self.jobs_done += 1
        self.flush()
        return 0

    def _report_environment(self) -> None:
        env = describe(self.cfg.runtime or "onnxruntime", self.cfg.threads)
        try:
            self.client.post_environment({**env, "agent_version": AGENT_VERSION, "agent_id": self.agent_id})
        except (Unreachable, ApiError) as exc:
            log.warning("agent.environment_not_sent", extra={"error": str(exc)})

    def process(self, job: dict[str, Any]) -> None:
        job_id, graph_id, payload = job["id"], job["graph_id"], job.get("payload") or {}
        log.info("agent.job", extra={"job_id": job_id, "graph_id": graph_id})
        try:
            data, fmt = self.client.model_bytes(graph_id)
        except (Unreachable, ApiError) as exc:
            self._queue_failure(job_id, f"could not fetch the model: {exc}")
            return
        fmt = fmt or detect_format(data)
        runtime = payload.get("runtime") or self.cfg.runtime or ("litert" if fmt == "tflite" else "onnxruntime")
        threads = int(payload.get("threads") or self.cfg.threads)
        with tempfile.TemporaryDirectory(prefix="edgeperf-agent-") as tmp:
            path = Path(tmp) / f"graph-{graph_id}.{fmt}"
            path.write_bytes(data)
            lease_s = float(payload.get("lease_seconds") or 300.0)
            try:
                with Heartbeat(self.client, job_id, self.agent_id, min(self.cfg.heartbeat_s, lease_s / 3)):
                    result = self._measure(str(path), runtime, threads, payload.get("input_shapes"))
            except MeasureError as exc:
                self._queue_failure(job_id, f"{exc.code}: {exc.message}")
                return
        item = to_measurement(result, graph_id, job_id, describe(runtime, threads)["device_key"])
        self.outbox.put({"client_id": item["client_id"], "kind": "complete", "job_id": job_id, "measurement": item})
        self.flush()

    def _measure(self, path: str, runtime: str, threads: int, shapes: dict[str, list[int]] | None) -> dict[str, Any]:
        """Memory child first (it also shields this process from a runtime that crashes),
        then the timed protocol in this process."""
        try:
            mem = memory.measure_peak(path, runtime, threads, shapes, self.cfg.protocol.memory_runs)
        except memory.PeakMemoryError as exc:
            raise MeasureError("runtime_failed", str(exc)) from exc
        result = measure(path, runtime, threads, shapes, self.cfg.protocol, memory=False, cpu=self.cfg.cpu)
        result["peak_memory_mb"] = mem.pop("peak_memory_mb")
        result["memory"] = mem
        return result

    def _queue_failure(self, job_id: int, error: str) -> None:
        log.warning("agent.job_failed", extra={"job_id": job_id, "error": error[:500]})
        self.outbox.put({"client_id": f"fail-{job_id}-{uuid.uuid4().hex[:8]}", "kind": "fail",
                         "job_id": job_id, "error": error})
        self.flush()

    def flush(self) -> None:
        """Send every pending outbox entry; stop at the first sign the server is down."""
        for entry in list(self.outbox.pending()):
            try:
                self._send(entry)
            except Unreachable as exc:
                log.warning("agent.flush_deferred", extra={"pending": len(self.outbox), "error": str(exc)})
                return
            self.outbox.remove(entry["client_id"])  # no-op when set aside

    def _send(self, entry: dict[str, Any]) -> None:
        kind = entry.get("kind")
        try:
            if kind == "complete":
                self.client.complete(entry["job_id"], self.agent_id, entry["measurement"])
            elif kind == "fail":
                self.client.fail(entry["job_id"], self.agent_id, entry["error"])
            else:
                self.client.post_measurements([entry["measurement"]])
        except ApiError as exc:
            self._refused(entry, exc)

    def _refused(self, entry: dict[str, Any], exc: ApiError) -> None:
        """The server refused an entry. A measurement whose job is gone is still ingested on
        its own; a refused failure report is dropped (the job is no longer ours); any other
        refused measurement is set aside in the outbox (``*.refused``), never deleted."""
        if entry.get("kind") == "complete" and exc.status in (404, 409):
            log.warning("agent.job_gone", extra={"job_id": entry["job_id"], "error": str(exc)})
            try:
                self.client.post_measurements([entry["measurement"]])
                return
            except ApiError as again:
                exc = again
        if entry.get("kind") == "fail":
            log.warning("agent.failure_refused", extra={"job_id": entry["job_id"], "error": str(exc)})
            return
        log.error("agent.entry_refused", extra={"client_id": entry["client_id"], "error": str(exc)})
        self.outbox.set_aside(entry["client_id"])
