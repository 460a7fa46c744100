"""``edgeperf serve`` and ``edgeperf migrate``."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pydantic import ValidationError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, name: str) -> None:
    if name == "serve":
        p = subparsers.add_parser(name, help="apply pending migrations and start the API server")
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--no-migrate", action="store_true", help="do not apply pending migrations first")
        p.add_argument(
            "--workers", type=int, default=None,
            help="API processes on this machine (default: $WEB_CONCURRENCY, else 1); each loads the "
                 "predictors and keeps its own feature cache and rate-limit counters",
        )
        p.set_defaults(func=_serve)
    elif name == "migrate":
        p = subparsers.add_parser(name, help="apply pending database migrations")
        p.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
        p.set_defaults(func=_migrate)
    elif name == "worker":
        p = subparsers.add_parser(name, help="run the background job worker")
        p.add_argument("--kinds", default="", help="comma-separated job kinds (default: all known)")
        p.add_argument("--once", action="store_true", help="stop when the queue is empty")
        p.add_argument("--poll", type=float, default=2.0, help="seconds between polls of an empty queue")
        p.add_argument("--lease", type=float, default=300.0, help="lease length in seconds")
        p.set_defaults(func=_worker)


def _describe(exc: ValidationError) -> str:
    """The validation messages without the offending values (which may be secrets)."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    return "; ".join(parts)


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _migrate(args: argparse.Namespace) -> int:
    from service.config import CoreSettings
    from service.migrate import upgrade

    _setup_logging()
    try:
        settings = CoreSettings()
    except ValidationError as exc:
        print(f"edgeperf migrate: bad configuration: {_describe(exc)}", file=sys.stderr)
        return 2
    upgrade(settings.sqlalchemy_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.config import ADMIN_KEY_FILE, Settings, ensure_admin_key
    from service.migrate import upgrade

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"edgeperf serve: refusing to start: {_describe(exc)}", file=sys.stderr)
        return 2
    raw = args.workers if args.workers is not None else os.environ.get("WEB_CONCURRENCY", "1")
    workers = int(raw) if str(raw).strip().lstrip("-").isdigit() else 0
    if not 1 <= workers <= 64:
        print(f"edgeperf serve: refusing to start: --workers (or WEB_CONCURRENCY) must be 1..64, "
              f"got {raw!r}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)
    settings, created = ensure_admin_key(settings)
    if created:
        print(
            f"dev mode: generated admin key (kept in {settings.data_dir / ADMIN_KEY_FILE}):\n"
            f"  {settings.admin_key}",
            flush=True,
        )
    elif settings.dev_mode:
        print(f"dev mode: admin key in {settings.data_dir / ADMIN_KEY_FILE}", flush=True)
    if not args.no_migrate:
        upgrade(settings.sqlalchemy_url)
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from service.config import CoreSettings
    from service.db import make_engine, make_sessionmaker
    from service.worker import Worker, default_worker_id, load_handlers

    try:
        settings = CoreSettings()
        handlers = load_handlers([k.strip() for k in args.kinds.split(",") if k.strip()])
    except (ValidationError, ValueError) as exc:
        detail = _describe(exc) if isinstance(exc, ValidationError) else str(exc)
        print(f"edgeperf worker: {detail}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    engine = make_engine(settings.sqlalchemy_url)
    try:
        worker = Worker(make_sessionmaker(engine), settings, handlers, default_worker_id(), args.lease)
        done = worker.run(stop, poll_seconds=args.poll, once=args.once)
    finally:
        engine.dispose()
    print(f"worker processed {done} job(s)")
    return 0
