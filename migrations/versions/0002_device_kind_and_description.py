"""device kind and description

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

``devices.kind``: ``registered`` (an admin registered it; existing rows) or ``reference``
(seeded at start-up from a shipped checkpoint); ``devices.description``: free text.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="registered", nullable=False)
        )
        batch_op.add_column(
            sa.Column("description", sa.String(length=1000), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("description")
        batch_op.drop_column("kind")
