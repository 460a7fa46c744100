"""Apply Alembic migrations programmatically (used by ``edgeperf migrate`` / ``serve``)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations

log = logging.getLogger(__name__)


def script_location() -> Path:
    """The migrations folder (works for installed, editable and source-tree layouts)."""
    for entry in migrations.__path__:
        if (Path(entry) / "env.py").is_file():
            return Path(entry)
    raise RuntimeError("the migrations package has no env.py")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def upgrade(url: str, revision: str = "head") -> None:
    _ensure_sqlite_dir(url)
    log.info("db.migrate.upgrade", extra={"revision": revision})
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    log.info("db.migrate.downgrade", extra={"revision": revision})
    command.downgrade(alembic_config(url), revision)
