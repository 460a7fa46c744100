from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from service.params import MAX_ID, InputModel

MAX_BATCH = 1000
MAX_SAMPLES = 100_000

Ms = Field(ge=0, allow_inf_nan=False)


class MeasurementIn(InputModel):
    """One measured run, as an agent (or the public-data importer) sends it."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, max_length=128, description="unique per device; resends are ignored")
    graph_id: int | None = Field(None, ge=1, le=MAX_ID)
    graph_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="graph identity hash")
    input_shapes: dict[str, list[int]] | None = None
    samples_ms: list[float] = Field(default_factory=list, max_length=MAX_SAMPLES)
    median_ms: float = Ms
    p10_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    p90_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    mad_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    load_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    first_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    latency_ms: float | None = Field(None, ge=0, allow_inf_nan=False, description="defaults to median_ms")
    energy_mj: float | None = Field(None, ge=0, allow_inf_nan=False)
    peak_memory_mb: float | None = Field(None, ge=0, allow_inf_nan=False)
    agent_version: str = Field("", max_length=64)
    runtime: str = Field("", max_length=64)
    runtime_version: str = Field("", max_length=64)
    threads: int | None = Field(None, ge=1, le=1024)
    extra: dict[str, Any] = Field(default_factory=dict)
    measured_at: AwareDatetime

    @model_validator(mode="after")
    def _check(self) -> MeasurementIn:
        if (self.graph_id is None) == (self.graph_sha256 is None):
            raise ValueError("give exactly one of graph_id or graph_sha256")
        if any(not (0 <= s < float("inf")) for s in self.samples_ms):
            raise ValueError("samples_ms must be finite non-negative numbers")
        return self


class MeasurementBatch(InputModel):
    model_config = ConfigDict(extra="forbid")

    device_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="optional; must be the token's own device"
    )
    items: list[MeasurementIn] = Field(min_length=1, max_length=MAX_BATCH)


class IngestResult(BaseModel):
    inserted: int
    duplicates: int


class MeasurementRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: int
    graph_id: int
    client_id: str
    input_shapes: dict[str, list[int]] | None
    samples_ms: list[float]
    median_ms: float
    p10_ms: float | None
    p90_ms: float | None
    mad_ms: float | None
    load_ms: float | None
    first_ms: float | None
    latency_ms: float
    energy_mj: float | None
    peak_memory_mb: float | None
    agent_version: str
    runtime: str
    runtime_version: str
    threads: int | None
    extra: dict[str, Any]
    measured_at: datetime
    created_at: datetime
