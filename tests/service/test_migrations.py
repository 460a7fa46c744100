"""Migrations on fresh databases of both backends: upgrade from empty, the schema matches
the ORM models, downgrade to base leaves nothing, upgrade again works."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import service.models  # noqa: F401
from service.db import Base, make_engine
from service.migrate import downgrade, upgrade
from tests.service import databases


@pytest.fixture(params=databases.backends())
def empty_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield databases.sqlite_url(tmp_path)
        return
    url = databases.create_pg_database("edgeperf_migr")
    try:
        yield url
    finally:
        databases.drop_pg_database(url)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def test_upgrade_downgrade_roundtrip(empty_url):
    upgrade(empty_url)
    assert _tables(empty_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert _diff(empty_url) == []
    downgrade(empty_url, "base")
    assert _tables(empty_url) <= {"alembic_version"}
    upgrade(empty_url)
    assert _diff(empty_url) == []
