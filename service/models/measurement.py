from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime, utcnow


class Measurement(Base):
    """One measured run of a graph on a device. ``(device_id, client_id)`` is unique so
    agents can resend a batch safely."""

    __tablename__ = "measurements"
    __table_args__ = (
        UniqueConstraint("device_id", "client_id"),
        Index("ix_measurements_graph_id_device_id", "graph_id", "device_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(128))
    input_shapes: Mapped[dict[str, list[int]] | None] = mapped_column(JSONType, nullable=True)
    samples_ms: Mapped[list[float]] = mapped_column(JSONType, default=list)
    median_ms: Mapped[float] = mapped_column(Float)
    p10_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    p90_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    mad_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    load_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    energy_mj: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float, nullable=True)
    agent_version: Mapped[str] = mapped_column(String(64), default="")
    runtime: Mapped[str] = mapped_column(String(64), default="")
    runtime_version: Mapped[str] = mapped_column(String(64), default="")
    threads: Mapped[int | None] = mapped_column(Integer, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
