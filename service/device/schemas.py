from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.params import InputModel


class Hardware(BaseModel):
    """What the device is. Unknown extra keys are kept."""

    model_config = ConfigDict(extra="allow")

    soc: str = Field("", max_length=200, description="SoC or board, e.g. 'Raspberry Pi 5'")
    cpu_model: str = Field("", max_length=200)
    accelerator: str = Field("", max_length=200, description="GPU/NPU/DSP, empty if none")
    cores: int | None = Field(None, ge=1, le=4096)
    memory_mb: int | None = Field(None, ge=1)


class DeviceCreate(InputModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:+-]*$")
    hardware: Hardware = Field(default_factory=Hardware)
    runtime: str = Field(min_length=1, max_length=64, examples=["onnxruntime", "litert"])
    runtime_version: str = Field("", max_length=64)
    precision: str = Field("fp32", max_length=16, examples=["fp32", "fp16", "int8"])
    threads: int = Field(1, ge=1, le=1024)
    sensors: list[str] = Field(default_factory=list, max_length=32, description="e.g. ['power']")
    profile: dict[str, Any] = Field(default_factory=dict, description="free-form description")
    description: str = Field("", max_length=1000, description="what the device is, for people")


class DeviceFields(BaseModel):
    """What every view of a registered device shows (the API's and the dashboard's)."""

    id: int
    name: str
    hardware: dict[str, Any]
    runtime: str
    runtime_version: str
    precision: str
    threads: int
    sensors: list[str]
    profile: dict[str, Any]
    kind: str = Field(
        description="'registered' (by an admin; has an agent token) or 'reference' (seeded from a "
        "shipped checkpoint: predictions only, no token until an admin registers the name)"
    )
    description: str


class DeviceRead(DeviceFields):
    model_config = ConfigDict(from_attributes=True)

    created_at: datetime


class DeviceCreated(DeviceRead):
    token: str = Field(description="the agent token; shown only in this response, store it now")
