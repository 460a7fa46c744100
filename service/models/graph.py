from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime, utcnow


class Graph(Base):
    """An uploaded network, deduplicated by content.

    ``sha256`` identifies the graph: the SHA-256 of the file bytes when no input shapes
    were given, else of ``file_sha256`` plus the canonical JSON of the shapes (the same
    file with other input shapes is another graph). The file itself lives at
    ``<data_dir>/graphs/<file_sha256[:2]>/<file_sha256>``; the parsed IR document
    (``predictor.graph.ir.Graph.to_dict()``) is kept in ``ir``."""

    __tablename__ = "graphs"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    input_shapes: Mapped[dict[str, list[int]] | None] = mapped_column(JSONType, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType)
    ir: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
