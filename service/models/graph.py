from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime, utcnow


class Graph(Base):
    """An uploaded network, deduplicated by the SHA-256 of its bytes.

    The model file itself lives at ``<data_dir>/graphs/<sha256[:2]>/<sha256>``;
    the parsed IR document (``predictor.graph.ir.Graph.to_dict()``) is kept here."""

    __tablename__ = "graphs"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    input_shapes: Mapped[dict[str, list[int]] | None] = mapped_column(JSONType, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType)
    ir: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
