from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.device.schemas import DeviceFields


class ErrorSummary(BaseModel):
    pairs: int = Field(description="graphs with both a logged prediction and a measurement")
    mape: float | None = Field(description="mean absolute relative error, %")
    median_ape: float | None = Field(description="median absolute relative error, %")
    within_10: float | None = Field(description="share of graphs within 10 %")
    within_25: float | None = Field(description="share of graphs within 25 %")


class Calibration(BaseModel):
    state: str = Field(
        description="the profile's calibration state, else 'calibrated' when an active predictor covers the device"
    )
    predictors: list[str] = Field(description="'name version (status)' of every predictor listing the device")
    detail: dict[str, Any] = Field(description="the device profile's calibration entry, if any")


class DeviceRow(DeviceFields):
    measurements: int
    graphs_measured: int
    last_measured_at: datetime | None
    calibration: Calibration
    accuracy: ErrorSummary


class Overview(BaseModel):
    totals: dict[str, int]
    devices: list[DeviceRow]


class Pair(BaseModel):
    graph_id: int
    graph: str
    measured_ms: float = Field(description="median measured latency over the device's measurements")
    predicted_ms: float = Field(description="latest logged prediction")
    error_pct: float = Field(description="(predicted - measured) / measured, %")
    measurements: int


class HistogramBin(BaseModel):
    lo: float | None = Field(description="lower edge, % (None: open)")
    hi: float | None = Field(description="upper edge, % (None: open)")
    count: int


class DeviceAccuracy(BaseModel):
    device: DeviceRow
    pairs: list[Pair]
    histogram: list[HistogramBin]


class NodeRow(BaseModel):
    name: str
    op: str
    macs: float | None
    params: float | None


class OpTotal(BaseModel):
    op: str
    value: float
    nodes: int


class DeviceRef(BaseModel):
    id: int
    name: str
    has_predictor: bool = Field(
        description="a loaded predictor covers the device (POST /v1/predictions answers)"
    )


class GraphPrediction(BaseModel):
    device_id: int
    device: str
    predictor_id: int | None
    latency_ms: float
    created_at: datetime


class GraphView(BaseModel):
    id: int
    filename: str
    format: str
    summary: dict[str, Any]
    devices: list[DeviceRef] = Field(description="every registered device (to ask the prediction API)")
    predictions: list[GraphPrediction] = Field(description="latest logged latency prediction per device")
    nodes: list[NodeRow]
    op_macs: list[OpTotal] = Field(description="MACs per op type, largest first")


class JobRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    device_id: int | None
    graph_id: int | None
    attempts: int
    max_attempts: int
    leased_by: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class JobCount(BaseModel):
    kind: str
    status: str
    count: int


class JobsOverview(BaseModel):
    statuses: dict[str, int]
    by_kind: list[JobCount]
    recent: list[JobRow]
