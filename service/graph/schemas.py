from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GraphRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sha256: str = Field(description="graph identity: file hash, or file hash + input shapes")
    file_sha256: str
    format: str = Field(description="onnx or tflite")
    filename: str
    size_bytes: int
    input_shapes: dict[str, list[int]] | None
    summary: dict[str, Any] = Field(
        description="IR summary: nodes, edges, macs, flops, params, unknown_ops, op_histogram, inputs, ..."
    )
    created_at: datetime


class GraphDetail(GraphRead):
    ir: dict[str, Any] = Field(description="the IR document (predictor.graph.ir.Graph.to_dict())")
