from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainRequest(BaseModel):
    """Optional training knobs (defaults: ``predictor.train.TrainConfig``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("perfsage", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    epochs: int | None = Field(None, ge=0, le=1000)
    ensemble: int | None = Field(None, ge=1, le=10)
    hidden_channels: int | None = Field(None, ge=4, le=512)
    contribution: Literal["roofline", "exp", "softplus"] | None = Field(
        None, description="node-cost form: roofline (analytic floor x bounded learned factor, the default) or exp"
    )
    max_minutes: float | None = Field(None, gt=0, le=24 * 60)
    seed: int | None = Field(None, ge=0)
    workers: int | None = Field(
        None, ge=1, le=64, description="ensemble members trained at once on the worker, one process each"
    )
    holdout_fraction: float | None = Field(None, gt=0, lt=0.9)
    ddp: int | None = Field(
        None, ge=2, le=64, description="train data-parallel with torchrun, this many processes"
    )


class TrainQueued(BaseModel):
    job_id: int
    status: str
    new: bool = Field(description="False when a train job was already queued or running")


class PredictorVersion(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    version: str
    status: str = Field(description="active | rejected | archived")
    devices: list[str]
    metrics: dict[str, Any]
    created_at: datetime
