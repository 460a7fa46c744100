"""Throw-away test databases: a SQLite file, or a uniquely named PostgreSQL database on the
server at ``EDGEPERF_TEST_PG_URL`` (default ``postgresql://127.0.0.1:5432/test``)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

PG_ADMIN_URL = os.environ.get("EDGEPERF_TEST_PG_URL", "postgresql://127.0.0.1:5432/test")


def backends() -> list[str]:
    """Backends to test: both unless ``EDGEPERF_TEST_BACKENDS`` narrows them (e.g. ``sqlite``)."""
    wanted = os.environ.get("EDGEPERF_TEST_BACKENDS", "sqlite,postgresql")
    return [b.strip() for b in wanted.split(",") if b.strip()]


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'edgeperf.db'}"


def create_pg_database(prefix: str = "edgeperf_test") -> str:
    """Create a fresh, uniquely named database; return its SQLAlchemy URL."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"{prefix}_{worker}_{uuid.uuid4().hex[:10]}".lower()
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({exc}); start it, point "
            "EDGEPERF_TEST_PG_URL at one, or run only SQLite with EDGEPERF_TEST_BACKENDS=sqlite"
        ) from exc
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
