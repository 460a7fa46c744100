"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25

All tables: devices, graphs, measurements, predictors, prediction_log, jobs.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: JSON everywhere, JSONB on PostgreSQL (matches service.db.JSONType).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("hardware", JSON, nullable=False),
        sa.Column("runtime", sa.String(length=64), nullable=False),
        sa.Column("runtime_version", sa.String(length=64), nullable=False),
        sa.Column("precision", sa.String(length=16), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("sensors", JSON, nullable=False),
        sa.Column("profile", JSON, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("name", name=op.f("uq_devices_name")),
    )
    op.create_table(
        "graphs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("input_shapes", JSON, nullable=True),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("ir", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graphs")),
        sa.UniqueConstraint("sha256", name=op.f("uq_graphs_sha256")),
    )
    with op.batch_alter_table("graphs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_graphs_file_sha256"), ["file_sha256"], unique=False)
    op.create_table(
        "predictors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("devices", JSON, nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("artifact_path", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictors")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_predictors_name_version")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("graph_id", sa.Integer(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_jobs_device_id_devices"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["graph_id"], ["graphs.id"], name=op.f("fk_jobs_graph_id_graphs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_graph_id"), ["graph_id"], unique=False)
        batch_op.create_index("ix_jobs_status_kind", ["status", "kind"], unique=False)

    op.create_table(
        "measurements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("input_shapes", JSON, nullable=True),
        sa.Column("samples_ms", JSON, nullable=False),
        sa.Column("median_ms", sa.Float(), nullable=False),
        sa.Column("p10_ms", sa.Float(), nullable=True),
        sa.Column("p90_ms", sa.Float(), nullable=True),
        sa.Column("mad_ms", sa.Float(), nullable=True),
        sa.Column("load_ms", sa.Float(), nullable=True),
        sa.Column("first_ms", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("energy_mj", sa.Float(), nullable=True),
        sa.Column("peak_memory_mb", sa.Float(), nullable=True),
        sa.Column("agent_version", sa.String(length=64), nullable=False),
        sa.Column("runtime", sa.String(length=64), nullable=False),
        sa.Column("runtime_version", sa.String(length=64), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=True),
        sa.Column("extra", JSON, nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_measurements_device_id_devices"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["graph_id"], ["graphs.id"], name=op.f("fk_measurements_graph_id_graphs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurements")),
        sa.UniqueConstraint("device_id", "client_id", name=op.f("uq_measurements_device_id_client_id")),
    )
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.create_index("ix_measurements_graph_id_device_id", ["graph_id", "device_id"], unique=False)

    op.create_table(
        "prediction_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("predictor_id", sa.Integer(), nullable=True),
        sa.Column("graph_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("request", JSON, nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_prediction_log_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["graph_id"], ["graphs.id"], name=op.f("fk_prediction_log_graph_id_graphs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["predictor_id"],
            ["predictors.id"],
            name=op.f("fk_prediction_log_predictor_id_predictors"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_log")),
    )
    with op.batch_alter_table("prediction_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prediction_log_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_prediction_log_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prediction_log_graph_id"), ["graph_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prediction_log_predictor_id"), ["predictor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("prediction_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prediction_log_predictor_id"))
        batch_op.drop_index(batch_op.f("ix_prediction_log_graph_id"))
        batch_op.drop_index(batch_op.f("ix_prediction_log_device_id"))
        batch_op.drop_index(batch_op.f("ix_prediction_log_created_at"))
    op.drop_table("prediction_log")
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.drop_index("ix_measurements_graph_id_device_id")
    op.drop_table("measurements")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_status_kind")
        batch_op.drop_index(batch_op.f("ix_jobs_graph_id"))
        batch_op.drop_index(batch_op.f("ix_jobs_device_id"))
    op.drop_table("jobs")
    op.drop_table("predictors")
    with op.batch_alter_table("graphs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_graphs_file_sha256"))
    op.drop_table("graphs")
    op.drop_table("devices")
