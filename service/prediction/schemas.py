from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.params import MAX_ID

Target = Literal["latency", "energy", "memory"]
ALL_TARGETS: tuple[Target, ...] = ("latency", "energy", "memory")
MAX_DEVICES = 64


def _device_list(value: Any) -> list[str] | Literal["all"]:
    """``"all"``, one name, or a list of 1..64 names."""
    if value == "all":
        return "all"
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or len(names) > MAX_DEVICES:
        raise ValueError(f'devices must be "all", a device name, or a list of 1 to {MAX_DEVICES} names')
    if not all(isinstance(n, str) and 0 < len(n) <= 200 for n in names):
        raise ValueError("every device name must be a non-empty string of at most 200 characters")
    return list(dict.fromkeys(names))


class PredictionOptions(BaseModel):
    """Which devices and targets (shared by single, batch and upload predictions)."""

    model_config = ConfigDict(extra="forbid")

    devices: list[str] | Literal["all"] | str = Field(
        description='a device name, a list of names, or "all" (every registered device with a predictor)',
        examples=["pi5-ort-t1", ["pi5-ort-t1", "jetson-trt"], "all"],
    )
    targets: list[Target] = Field(default_factory=lambda: list(ALL_TARGETS), min_length=1, max_length=3)

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, value: Any) -> list[str] | Literal["all"]:
        return _device_list(value)

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: list[Target]) -> list[Target]:
        return list(dict.fromkeys(value))


COLUMNS_DESCRIPTION = (
    "the graph in the columns form (predictor.columns.to_columns: what featurisation reads, as packed "
    "base64 arrays; about 5x faster to read than an IR document)"
)
SOURCES = "graph_id (an uploaded graph), ir (an IR document) and columns (the columns form)"


def sources_given(item: Any) -> int:
    """How many of ``graph_id``, ``ir`` and ``columns`` a request or batch item gives."""
    return sum(v is not None for v in (item.graph_id, item.ir, item.columns))


class PredictionRequest(PredictionOptions):
    """Exactly one of ``graph_id`` (an uploaded graph), ``ir`` (an IR document) and ``columns``."""

    graph_id: int | None = Field(None, ge=1, le=MAX_ID)
    ir: dict[str, Any] | None = Field(None, description="predictor.graph.ir.Graph.to_dict() (structure only)")
    columns: dict[str, Any] | None = Field(None, description=COLUMNS_DESCRIPTION)
    breakdown: bool = Field(False, description="add per-layer contributions")

    @model_validator(mode="after")
    def _one_source(self) -> PredictionRequest:
        if sources_given(self) != 1:
            raise ValueError(f"give exactly one of {SOURCES}")
        return self


class BatchItem(BaseModel):
    """One graph of a batch: ``graph_id``, ``ir`` or ``columns`` (checked per item, errors reported
    per item)."""

    graph_id: int | None = Field(None, ge=1, le=MAX_ID)
    ir: dict[str, Any] | None = None
    columns: dict[str, Any] | None = Field(None, description=COLUMNS_DESCRIPTION)


class BatchRequest(PredictionOptions):
    items: list[BatchItem] = Field(min_length=1, description="graphs, each by id or as an IR document")


class TargetPrediction(BaseModel):
    available: bool
    value: float | None = Field(None, description="point prediction in `unit`; null when unavailable")
    unit: str = Field(description="ms, mJ or MB")
    interval_90: list[float] | None = Field(None, description="90% prediction interval [lo, hi]")
    reason: str | None = Field(None, description="why the target is unavailable")


class LayerContribution(BaseModel):
    index: int = Field(description="node index in the IR")
    node: str
    op: str
    contribution: float = Field(description="this node's share of the prediction, in the target's unit")


class PredictionWarning(BaseModel):
    code: str = Field(examples=["unknown_ops", "unresolved_shapes", "out_of_distribution", "novel_nodes"])
    message: str


class GraphPrediction(BaseModel):
    graph_id: int | None = None
    predictions: dict[str, dict[str, TargetPrediction]] = Field(description="device -> target -> prediction")
    predictor_versions: dict[str, str] = Field(description="device -> predictor version")
    warnings: list[PredictionWarning] = Field(default_factory=list)


class PredictionResponse(GraphPrediction):
    predictor_version: str = Field(description="the predictor version (comma-joined when devices differ)")
    breakdown: dict[str, dict[str, list[LayerContribution]]] | None = Field(
        None, description="device -> target -> per-layer contributions (on request)"
    )


class ItemError(BaseModel):
    error: str
    detail: str


class BatchResult(BaseModel):
    index: int
    graph_id: int | None = None
    predictions: dict[str, dict[str, TargetPrediction]] | None = None
    warnings: list[PredictionWarning] = Field(default_factory=list)
    error: ItemError | None = None


class BatchResponse(BaseModel):
    predictor_version: str
    predictor_versions: dict[str, str]
    succeeded: int
    failed: int
    results: list[BatchResult]


class UploadPredictionResponse(PredictionResponse):
    created: bool = Field(description="whether the uploaded graph was new")
