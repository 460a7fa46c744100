"""Reliability tests reuse the service fixtures (both database backends, app, client)."""

from tests.service.conftest import (  # noqa: F401 - fixtures are found by name
    anyio_backend,
    app,
    clean_db,
    client,
    database_url,
    db_engine,
    settings,
)
