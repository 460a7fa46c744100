"""Small real ONNX conv nets (built with ``onnx.helper``, runnable by onnxruntime) and
helpers that put graphs and measurements into the service through its HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.service.conftest import ADMIN, bearer


@cache
def conv_net(depth: int, channels: int, size: int = 32) -> bytes:
    """``depth`` 3x3 conv+relu layers of ``channels``, global pool, a linear head."""
    rng = np.random.default_rng(depth * 1000 + channels * 10 + size)
    nodes, inits, prev, cin = [], [], "x", 3
    for i in range(depth):
        w = numpy_helper.from_array(rng.normal(0, 0.1, (channels, cin, 3, 3)).astype(np.float32), f"w{i}")
        b = numpy_helper.from_array(np.zeros(channels, np.float32), f"b{i}")
        inits += [w, b]
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        prev, cin = f"r{i}", channels
    inits.append(numpy_helper.from_array(rng.normal(0, 0.1, (10, channels)).astype(np.float32), "fc"))
    nodes += [
        helper.make_node("GlobalAveragePool", [prev], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        f"conv{depth}x{channels}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


SHAPES = [(d, c, s) for d in (1, 2, 3, 4, 6) for c in (4, 8, 16, 24) for s in (16, 32)]


async def upload(client, data: bytes, name: str) -> dict:
    resp = await client.post("/v1/graphs", files={"file": (name, data)})
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


async def register(client, name: str, calibrate: bool = False) -> dict:
    body = {"name": name, "runtime": "onnxruntime"}
    resp = await client.post("/v1/devices", json=body, headers=ADMIN)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def post_latencies(
    client, device: dict, graph_ids: list[int], latencies: list[float], tag: str = ""
) -> None:
    now = datetime.now(UTC).isoformat()
    items = [
        {"client_id": f"{tag}{g}", "graph_id": g, "median_ms": lat, "measured_at": now}
        for g, lat in zip(graph_ids, latencies, strict=True)
    ]
    resp = await client.post("/v1/measurements", json={"items": items}, headers=bearer(device["token"]))
    assert resp.status_code == 200, resp.text


def analytic_latency(summary: dict, per_gmac: float, overhead: float) -> float:
    """A device model for training tests: time linear in MACs plus a per-node overhead."""
    return per_gmac * summary["macs"] / 1e9 + overhead * summary["nodes"] + 0.02
