"""``edgeperf worker``: lease jobs of known kinds and run their handlers.

A handler is ``fn(ctx: JobContext, job: Job) -> dict`` (the job's result). It runs in
a transaction that also marks the job done, so its writes and the completion commit
together; if it raises, its writes are rolled back and the failure is recorded
(the job is retried until ``max_attempts``). Register a kind by adding it to
``HANDLERS`` as ``"module:function"`` (imported when a worker starts)."""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service import jobqueue
from service.config import CoreSettings
from service.errors import ServiceError
from service.graph.storage import GraphStore
from service.models import Job

log = logging.getLogger(__name__)

#: job kind -> "module:function"
HANDLERS: dict[str, str] = {
    "graph.reparse": "service.graph.tasks:reparse",
    "predictor.train": "service.training.tasks:train",
    "calibration.select": "service.calibration.tasks:select",
    "calibration.fit": "service.calibration.tasks:fit",
    "device.drift": "service.drift:check_job",
}


@dataclass
class JobContext:
    session: Session
    settings: CoreSettings
    graph_store: GraphStore


Handler = Callable[[JobContext, Job], dict[str, Any]]


def load_handlers(kinds: Sequence[str] | None = None) -> dict[str, Handler]:
    wanted = list(kinds) if kinds else list(HANDLERS)
    unknown = [k for k in wanted if k not in HANDLERS]
    if unknown:
        raise ValueError(f"no handler for job kind(s) {unknown}; known: {sorted(HANDLERS)}")
    handlers = {}
    for kind in wanted:
        module, _, name = HANDLERS[kind].partition(":")
        handlers[kind] = getattr(importlib.import_module(module), name)
    return handlers


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Worker:
    sessions: sessionmaker[Session]
    settings: CoreSettings
    handlers: dict[str, Handler]
    worker_id: str
    lease_seconds: float = 300.0

    def run_one(self) -> bool:
        """Lease and run one job. False when none was available."""
        with self.sessions.begin() as session:
            job = jobqueue.lease(
                session, self.worker_id, kinds=list(self.handlers), lease_seconds=self.lease_seconds
            )
            job_id = job.id if job else None
        if job_id is None:
            return False
        try:
            with self._heartbeat(job_id), self.sessions.begin() as session:
                job = session.get(Job, job_id)
                assert job is not None
                ctx = JobContext(session, self.settings, GraphStore(self.settings.graphs_dir))
                result = self.handlers[job.kind](ctx, job)
                jobqueue.complete(session, job_id, self.worker_id, result)
        except Exception as exc:  # a job boundary: record any failure on the job, keep working
            log.exception("worker.job_error", extra={"job_id": job_id})
            self._record_failure(job_id, f"{type(exc).__name__}: {exc}")
        return True

    @contextmanager
    def _heartbeat(self, job_id: int) -> Iterator[None]:
        """Keep extending the lease while the handler runs, so a short lease only
        bounds how long a dead worker's job waits, not how long a job may take."""
        stop = threading.Event()
        beat = threading.Thread(
            target=self._beat, args=(job_id, stop), daemon=True, name=f"heartbeat-{job_id}"
        )
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()

    def _beat(self, job_id: int, stop: threading.Event) -> None:
        while not stop.wait(max(self.lease_seconds / 3, 0.05)):
            try:
                with self.sessions.begin() as session:
                    jobqueue.heartbeat(session, job_id, self.worker_id, self.lease_seconds)
            except ServiceError:  # finished or taken over: nothing left to extend
                return
            except SQLAlchemyError as exc:  # database busy or away: try again next beat
                log.warning("worker.heartbeat_failed", extra={"job_id": job_id, "error": type(exc).__name__})

    def _record_failure(self, job_id: int, error: str) -> None:
        try:
            with self.sessions.begin() as session:
                jobqueue.fail(session, job_id, self.worker_id, error)
        except ServiceError as exc:  # the lease expired and another worker has the job now
            log.warning("worker.lease_lost", extra={"job_id": job_id, "reason": exc.message})

    def run(self, stop: threading.Event, poll_seconds: float = 2.0, once: bool = False) -> int:
        """Work until ``stop`` is set (or, with ``once``, until the queue is empty)."""
        done = 0
        log.info("worker.started", extra={"worker": self.worker_id, "kinds": sorted(self.handlers)})
        while not stop.is_set():
            if self.run_one():
                done += 1
            elif once:
                break
            else:
                stop.wait(poll_seconds)
        log.info("worker.stopped", extra={"worker": self.worker_id, "jobs": done})
        return done
