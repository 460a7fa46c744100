"""Service test fixtures.

``database_url`` is session-scoped and parametrised over the backends (SQLite and
PostgreSQL): one fresh database per backend per test run (per xdist worker), with the
Alembic migrations applied, so every test also exercises the migrations. Each test
starts from empty tables (rows are deleted after the test); uploads go to a per-test
data directory. ``client`` talks to the app in process through ``httpx.ASGITransport``
with the lifespan running."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db import Base, make_engine, make_sessionmaker
from service.main import create_app
from service.migrate import upgrade
from tests.service import databases

ADMIN_KEY = "test-admin-key-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", params=databases.backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = databases.sqlite_url(tmp_path_factory.mktemp("sqlite"))
        upgrade(url)
        yield url
        return
    url = databases.create_pg_database()
    try:
        upgrade(url)
        yield url
    finally:
        databases.drop_pg_database(url)


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_db(db_engine: Engine) -> Iterator[Engine]:
    """Empty tables before the test hands back; wiped again afterwards."""
    yield db_engine
    with db_engine.begin() as conn:
        if db_engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def db_sessions(clean_db: Engine) -> sessionmaker[Session]:
    """A session factory on the test database, for service-level tests without HTTP."""
    return make_sessionmaker(clean_db)


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings of one test: its database and data dir, the test admin key, and no seeded
    reference devices (tests start from an empty registry) unless ``overrides`` say so."""
    values: dict[str, Any] = {"database_url": database_url, "data_dir": tmp_path / "data",
                              "admin_key": ADMIN_KEY, "seed_reference_devices": False}
    return Settings(**{**values, **overrides})


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:
    """Without the shipped checkpoints' reference devices (``test_reference_devices.py`` turns
    the seeding on)."""
    return make_settings(database_url, tmp_path)


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the tiny real test checkpoint (``tests.service.checkpoints``)."""
    from tests.service.checkpoints import build_checkpoint

    directory = tmp_path_factory.mktemp("checkpoints")
    build_checkpoint(directory)
    return directory


@pytest.fixture
async def app(settings: Settings, clean_db: Engine) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def make_device(client: httpx.AsyncClient, name: str = "pi5-ort-t1", **fields) -> dict:
    body = {"name": name, "runtime": "onnxruntime", "hardware": {"soc": "BCM2712", "cores": 4}, **fields}
    resp = await client.post("/v1/devices", json=body, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    return resp.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
