"""Insert-or-ignore on both backends (PostgreSQL and SQLite share the ON CONFLICT syntax)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(
    session: Session, model: type[Any], rows: Sequence[dict[str, Any]], conflict_columns: Sequence[str]
) -> list[int]:
    """Insert ``rows``; rows clashing on ``conflict_columns`` are skipped.

    Returns the ids of the rows actually inserted."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(model)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=list(conflict_columns))
        .returning(model.id)
    )
    return list(session.scalars(stmt).all())
