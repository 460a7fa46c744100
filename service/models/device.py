from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime, utcnow

#: ``Device.kind``: registered by an admin (an agent token was issued), or seeded at start-up
#: from a shipped checkpoint that predicts for it (no agent, no token until an admin registers it).
REGISTERED = "registered"
REFERENCE = "reference"


class Device(Base):
    """A measured (or predicted-for) device: hardware, runtime and the agent's token hash
    (empty while no token was issued: no bearer token matches it)."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    hardware: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    runtime: Mapped[str] = mapped_column(String(64))
    runtime_version: Mapped[str] = mapped_column(String(64), default="")
    precision: Mapped[str] = mapped_column(String(16), default="fp32")
    threads: Mapped[int] = mapped_column(Integer, default=1)
    sensors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    token_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default=REGISTERED, server_default=REGISTERED)
    description: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
