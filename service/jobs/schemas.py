from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.measurement.schemas import MeasurementIn

MAX_JOBS_PER_REQUEST = 1000
Shapes = dict[str, list[int]]


class JobsCreate(BaseModel):
    """Queue measurement jobs: one per graph, for one device."""

    model_config = ConfigDict(extra="forbid")

    graph_ids: list[int] = Field(min_length=1, max_length=MAX_JOBS_PER_REQUEST)
    input_shapes: Shapes | None = Field(None, description="default: the graph's own input shapes")
    runtime: str | None = Field(None, max_length=64, description="default: from the model format")
    threads: int | None = Field(None, ge=1, le=1024, description="default: the device's threads")
    max_attempts: int = Field(3, ge=1, le=20)
    lease_seconds: float = Field(300.0, ge=1.0, le=86400.0, description="a lease not completed in time expires")


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    device_id: int | None
    graph_id: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    max_attempts: int
    lease_expires_at: datetime | None
    leased_by: str | None
    error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


class JobsCreated(BaseModel):
    jobs: list[JobRead]


class EnvironmentIn(BaseModel):
    environment: dict[str, Any] = Field(description="agent.environment.describe() and agent details")


class EnvironmentStored(BaseModel):
    device_id: int
    device_key: str | None


class LeaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")


class AgentJob(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    graph_id: int
    payload: dict[str, Any]
    attempts: int
    lease_expires_at: datetime | None


class LeaseOut(BaseModel):
    job: AgentJob | None


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    measurement: MeasurementIn


class CompleteOut(BaseModel):
    inserted: int
    duplicates: int
    job_status: str


class FailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    error: str = Field(min_length=1, max_length=20000)
    retry: bool = Field(True, description="false: the failure is permanent, do not queue again")


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    lease_seconds: float | None = Field(None, ge=1.0, le=86400.0,
                                        description="extend by this much (default: the job's lease_seconds)")


class HeartbeatOut(BaseModel):
    job_id: int
    lease_expires_at: datetime


class FailOut(BaseModel):
    job_status: str
    attempts: int
    max_attempts: int
