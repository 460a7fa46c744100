from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CalibrationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int | None = Field(None, ge=1, le=50, description="architectures to measure (default: settings)")
    pool: int | None = Field(None, ge=1, le=2000, description="candidates considered (default 4K)")


class CalibrationQueued(BaseModel):
    job_id: int
    device_id: int
    k: int


class CalibrationState(BaseModel):
    model_config = ConfigDict(extra="allow")

    state: str
    k: int
    measured: int
    graph_ids: list[int] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)
