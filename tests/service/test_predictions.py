"""POST /v1/predictions, /batch and /upload with a real (tiny) trained checkpoint,
in process against SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from service.config import Settings
from service.main import create_app
from service.models import PredictionLog
from tests.service.checkpoints import nb201_graphs
from tests.service.conftest import make_device, make_settings
from tests.service.model_files import onnx_bytes

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(database_url: str, tmp_path, checkpoint_dir: Path) -> Settings:
    return make_settings(database_url, tmp_path, predictor_dir=checkpoint_dir, max_batch_size=20)


def ir(i: int = 0) -> dict:
    return nb201_graphs()[i].to_dict()


def assert_error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) >= {"error", "detail"} and body["detail"]
    if code:
        assert body["error"] == code, body
    return body


async def test_ir_prediction_on_a_device_with_every_target(client, db_engine):
    await make_device(client, "dev-a")
    resp = await client.post("/v1/predictions", json={"ir": ir(0), "devices": "dev-a"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    preds = body["predictions"]["dev-a"]
    assert {t: p["unit"] for t, p in preds.items()} == {"latency": "ms", "energy": "mJ", "memory": "MB"}
    for p in preds.values():
        lo, hi = p["interval_90"]
        assert p["available"] and p["reason"] is None and 0 < lo <= p["value"] <= hi
    assert body["predictor_version"].startswith("tiny-") and body["predictor_versions"] == {
        "dev-a": body["predictor_version"]
    }
    assert body["graph_id"] is None and body["breakdown"] is None and isinstance(body["warnings"], list)
    with db_engine.connect() as conn:
        row = conn.execute(select(PredictionLog)).one()
    assert row.request["devices"] == ["dev-a"] and row.result["predictions"]["dev-a"][
        "latency"
    ] == pytest.approx(preds["latency"]["value"])
    assert row.device_id is not None and row.duration_ms > 0


async def test_targets_without_data_are_unavailable_never_invented(client):
    resp = await client.post(
        "/v1/predictions", json={"ir": ir(1), "devices": ["dev-b"], "targets": ["latency", "energy"]}
    )
    assert resp.status_code == 200, resp.text  # dev-b is known to the checkpoint, not registered
    preds = resp.json()["predictions"]["dev-b"]
    assert preds["latency"]["available"] and preds["latency"]["value"] > 0
    assert preds["energy"] == {
        "available": False,
        "value": None,
        "unit": "mJ",
        "interval_90": None,
        "reason": "no energy measurements of device dev-b in the training data",
    }
    assert "memory" not in preds


async def test_breakdown_per_layer_sums_to_the_prediction(client):
    graph = nb201_graphs()[2]
    resp = await client.post(
        "/v1/predictions", json={"ir": graph.to_dict(), "devices": ["dev-a", "dev-b"], "breakdown": True}
    )
    body = resp.json()
    for dev in ("dev-a", "dev-b"):
        for target, layers in body["breakdown"][dev].items():
            assert [x["node"] for x in layers] == [n.name for n in graph.nodes]
            assert [x["op"] for x in layers] == [n.op for n in graph.nodes]
            total = sum(x["contribution"] for x in layers)
            assert total == pytest.approx(body["predictions"][dev][target]["value"], rel=1e-4)
    assert set(body["breakdown"]["dev-b"]) == {"latency"}  # nothing for unavailable targets


async def test_columns_documents_are_answered_like_their_ir(client):
    from predictor.columns import to_columns

    doc = ir(3)
    doc["nodes"][1]["op"] = "unknown:FancyOp"
    doc["nodes"][5]["outputs"][-1]["shape"] = None
    devices = ["dev-a", "dev-b"]
    by_ir = (await client.post("/v1/predictions", json={"ir": doc, "devices": devices, "breakdown": True})).json()
    by_columns = await client.post(
        "/v1/predictions", json={"columns": to_columns(doc, names=True), "devices": devices, "breakdown": True}
    )
    assert by_columns.status_code == 200, by_columns.text
    assert by_columns.json() == by_ir  # predictions, warnings (unknown op, unresolved shape), breakdown
    items = [{"ir": ir(i)} for i in range(4)]
    batch_ir = (await client.post("/v1/predictions/batch", json={"items": items, "devices": devices})).json()
    columns = [{"columns": to_columns(it["ir"])} for it in items]
    batch_columns = (await client.post("/v1/predictions/batch", json={"items": columns, "devices": devices})).json()
    assert batch_columns == batch_ir and batch_ir["succeeded"] == 4


async def test_bad_columns_documents_are_4xx_naming_the_field(client):
    from predictor.columns import to_columns

    good = to_columns(ir(0))
    items = [{"columns": good}, {"columns": {**good, "edges": "AAAA"}}, {"columns": {**good, "columns": 9}},
             {"columns": good, "ir": ir(0)}]
    resp = await client.post("/v1/predictions/batch", json={"items": items, "devices": "dev-a"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["succeeded"], body["failed"]) == (1, 3)
    errors = [r["error"] for r in body["results"][1:]]
    assert [e["error"] for e in errors[:2]] == ["invalid_ir", "invalid_ir"]
    assert "columns document: edges " in errors[0]["detail"] and "columns document: columns " in errors[1]["detail"]
    assert errors[2]["error"] == "validation_error" and "exactly one of" in errors[2]["detail"]
    not_object = await client.post("/v1/predictions/batch", json={"items": [{"columns": [1]}], "devices": "dev-a"})
    assert "items.0.columns" in assert_error(not_object, 422, "validation_error")["detail"]  # as for ir
    single = await client.post("/v1/predictions", json={"columns": {**good, "op": "!"}, "devices": "dev-a"})
    assert "columns document: op " in assert_error(single, 422, "invalid_ir")["detail"]


async def test_stored_graph_by_id_is_featurised_once(client, app):
    up = await client.post(
        "/v1/graphs", files={"file": ("net.onnx", onnx_bytes(), "application/octet-stream")}
    )
    graph = up.json()
    first = await client.post("/v1/predictions", json={"graph_id": graph["id"], "devices": "dev-b"})
    assert first.status_code == 200, first.text
    assert first.json()["graph_id"] == graph["id"]
    assert app.state.predictors.cache.get(graph["sha256"]) is not None
    again = await client.post("/v1/predictions", json={"graph_id": graph["id"], "devices": "dev-b"})
    assert again.json()["predictions"] == first.json()["predictions"]


async def test_warnings_count_distinct_unresolved_tensors(client):
    doc = ir(3)
    nodes = doc["nodes"]
    nodes[2]["outputs"][0]["shape"] = [-1, 16, 32, 32]  # an output and the next node's input: one tensor
    nodes[3]["inputs"][0]["shape"] = [-1, 16, 32, 32]
    nodes[3]["inputs"][0]["name"] = nodes[2]["outputs"][0]["name"]
    nodes[5]["outputs"][-1]["shape"] = None
    nodes[6]["inputs"][-1]["shape"] = ["1", "-1"]  # dims as text are read like int()
    body = (await client.post("/v1/predictions", json={"ir": doc, "devices": "dev-a"})).json()
    codes = {w["code"]: w["message"] for w in body["warnings"]}
    assert codes["unresolved_shapes"].startswith("3 tensor(s) have unresolved shapes"), codes
    batch = await client.post("/v1/predictions/batch", json={"items": [{"ir": doc}, {"ir": ir(3)}], "devices": "dev-a"})
    first, second = batch.json()["results"]
    assert first["warnings"] == body["warnings"] and second["warnings"] == []


async def test_warnings_unknown_ops_and_far_from_training(client):
    doc = ir(3)
    doc["nodes"][1]["op"] = "unknown:FancyOp"
    body = (await client.post("/v1/predictions", json={"ir": doc, "devices": "dev-a"})).json()
    codes = {w["code"]: w["message"] for w in body["warnings"]}
    assert "FancyOp x1" in codes["unknown_ops"] and "out_of_distribution" not in codes
    # a plain 8-node conv net is far smaller than any NAS-Bench-201 network of the training set
    up = await client.post(
        "/v1/graphs", files={"file": ("small.onnx", onnx_bytes(), "application/octet-stream")}
    )
    body = (
        await client.post("/v1/predictions", json={"graph_id": up.json()["id"], "devices": "dev-a"})
    ).json()
    far = [w["message"] for w in body["warnings"] if w["code"] == "out_of_distribution"]
    assert far and "nodes" in far[0] and "training range" in far[0]


async def test_nodes_of_kinds_never_trained_on_are_warned_about(client):
    doc = ir(3)
    convs = [n for n in doc["nodes"] if n["op"] == "conv"]
    convs[0]["attrs"].update(kernel_shape=[11, 11], strides=[4, 4])  # the training graphs have 1x1 and 3x3
    body = (await client.post("/v1/predictions", json={"ir": doc, "devices": "dev-a"})).json()
    codes = {w["code"]: w["message"] for w in body["warnings"]}
    assert codes["novel_nodes"].startswith("1 of ") and "conv 11x11/4 x1" in codes["novel_nodes"], codes
    plain = (await client.post("/v1/predictions", json={"ir": ir(3), "devices": "dev-a"})).json()
    assert "novel_nodes" not in {w["code"] for w in plain["warnings"]}


async def test_all_means_registered_devices_with_a_predictor(client):
    await make_device(client, "dev-a")
    await make_device(client, "unmodelled")
    body = (await client.post("/v1/predictions", json={"ir": ir(0), "devices": "all"})).json()
    assert list(body["predictions"]) == ["dev-a"]


async def test_bad_requests_are_4xx_with_the_json_body(client):
    await make_device(client, "unmodelled")
    post = client.post
    assert (
        "nope"
        in assert_error(
            await post("/v1/predictions", json={"ir": ir(0), "devices": "nope"}), 404, "unknown_device"
        )["detail"]
    )
    assert (
        "unmodelled"
        in assert_error(
            await post("/v1/predictions", json={"ir": ir(0), "devices": "unmodelled"}), 409, "no_predictor"
        )["detail"]
    )
    assert_error(
        await post("/v1/predictions", json={"graph_id": 999999, "devices": "dev-a"}), 404, "not_found"
    )
    assert_error(await post("/v1/predictions", json={"graph_id": 2**63, "devices": "dev-a"}), 422)
    batch_id = {"items": [{"graph_id": 2**40}], "devices": "dev-a"}
    assert_error(await post("/v1/predictions/batch", json=batch_id), 422)
    both = await post("/v1/predictions", json={"graph_id": 1, "ir": ir(0), "devices": "dev-a"})
    assert "exactly one of graph_id" in assert_error(both, 422)["detail"]
    assert_error(await post("/v1/predictions", json={"devices": "dev-a"}), 422, "validation_error")
    assert_error(
        await post("/v1/predictions", json={"ir": ir(0), "devices": "dev-a", "targets": ["speed"]}), 422
    )
    assert_error(await post("/v1/predictions", json={"ir": ir(0), "devices": []}), 422)
    bad_edge = {**ir(0), "edges": [[0, 10**6]]}
    assert (
        "malformed IR"
        in assert_error(
            await post("/v1/predictions", json={"ir": bad_edge, "devices": "dev-a"}), 422, "invalid_ir"
        )["detail"]
    )
    for doc in (
        {"nodes": []},
        {"nodes": [{"name": "x"}]},
        {"nodes": [{"op": "conv", "inputs": [{"shape": ["a"]}]}]},
        {"nodes": [{"op": "conv"}], "edges": [[0]]},
        [1, 2],
    ):
        assert_error(await post("/v1/predictions", json={"ir": doc, "devices": "dev-a"}), 422)
    # absurd but well-formed: answered, with a warning instead of a crash
    huge = {"nodes": [{"op": "conv", "outputs": [{"name": "t", "shape": [10**10] * 30}]}]}
    resp = await post("/v1/predictions", json={"ir": huge, "devices": "dev-a"})
    assert resp.status_code == 200 and "out_of_distribution" in {w["code"] for w in resp.json()["warnings"]}
    raw = await post("/v1/predictions", content=b"{not json", headers={"content-type": "application/json"})
    assert_error(raw, 422)


async def test_ir_size_limit(settings, clean_db):
    app = create_app(settings.model_copy(update={"max_graph_nodes": 5}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            resp = await client.post("/v1/predictions", json={"ir": ir(0), "devices": "dev-a"})
    assert "limit is 5" in assert_error(resp, 413, "too_large")["detail"]


async def test_no_checkpoint_at_all_is_a_clear_409(settings, clean_db, tmp_path):
    empty = tmp_path / "no-checkpoints"
    empty.mkdir()
    app = create_app(settings.model_copy(update={"predictor_dir": empty}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            await make_device(client, "dev-a")
            one = await client.post("/v1/predictions", json={"ir": ir(0), "devices": "dev-a"})
            every = await client.post(
                "/v1/predictions/batch", json={"items": [{"ir": ir(0)}], "devices": "all"}
            )
    assert "no predictor for device(s): dev-a" in assert_error(one, 409, "no_predictor")["detail"]
    assert_error(every, 409, "no_predictor")


async def test_batch_reports_errors_per_item(client):
    up = await client.post(
        "/v1/graphs", files={"file": ("net.onnx", onnx_bytes(), "application/octet-stream")}
    )
    items = [{"ir": ir(i)} for i in range(4)]
    items += [
        {"graph_id": up.json()["id"]},
        {"graph_id": 424242},
        {"ir": {"nodes": "x"}},
        {},
        {"graph_id": 1, "ir": ir(0)},
    ]
    resp = await client.post(
        "/v1/predictions/batch", json={"items": items, "devices": ["dev-a", "dev-b"], "targets": ["latency"]}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["succeeded"], body["failed"]) == (5, 4)
    results = body["results"]
    assert [r["index"] for r in results] == list(range(9))
    for r in results[:5]:
        assert r["error"] is None and r["predictions"]["dev-a"]["latency"]["value"] > 0
    assert results[4]["graph_id"] == up.json()["id"]
    assert [r["error"]["error"] for r in results[5:]] == [
        "not_found",
        "invalid_ir",
        "validation_error",
        "validation_error",
    ]
    single = (await client.post("/v1/predictions", json={"ir": ir(2), "devices": "dev-a"})).json()
    assert results[2]["predictions"]["dev-a"]["latency"]["value"] == pytest.approx(
        single["predictions"]["dev-a"]["latency"]["value"], rel=1e-5
    )


async def test_batch_too_large_and_empty(client):
    resp = await client.post(
        "/v1/predictions/batch", json={"items": [{"ir": ir(0)}] * 21, "devices": "dev-a"}
    )
    assert "at most 20" in assert_error(resp, 413, "batch_too_large")["detail"]
    assert_error(await client.post("/v1/predictions/batch", json={"items": [], "devices": "dev-a"}), 422)


async def test_upload_stores_the_graph_and_predicts(client, db_engine):
    files = {"file": ("net.onnx", onnx_bytes(16), "application/octet-stream")}
    form = {
        "devices": "dev-a,dev-b",
        "targets": "latency,memory",
        "input_shapes": json.dumps({"x": [2, 3, 32, 32]}),
    }
    resp = await client.post("/v1/predictions/upload", files=files, data=form)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["created"] is True and set(body["predictions"]) == {"dev-a", "dev-b"}
    assert body["predictions"]["dev-b"]["memory"]["available"] is False
    stored = (await client.get(f"/v1/graphs/{body['graph_id']}")).json()
    assert stored["input_shapes"] == {"x": [2, 3, 32, 32]}
    again = (await client.post("/v1/predictions/upload", files=files, data=form)).json()
    assert again["created"] is False and again["graph_id"] == body["graph_id"]
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PredictionLog)).scalar() == 2


async def test_upload_bad_input(client):
    files = {"file": ("net.onnx", b"garbage", "application/octet-stream")}
    assert_error(
        await client.post("/v1/predictions/upload", files=files, data={"devices": "dev-a"}),
        422,
        "invalid_model",
    )
    good = {"file": ("net.onnx", onnx_bytes(), "application/octet-stream")}
    assert_error(await client.post("/v1/predictions/upload", files=good, data={"devices": "[oops"}), 422)
    assert_error(
        await client.post(
            "/v1/predictions/upload", files=good, data={"devices": "dev-a", "targets": "speed"}
        ),
        422,
    )
    assert_error(await client.post("/v1/predictions/upload", files=good, data={"devices": "ghost"}), 404)


def test_ir_documents_are_not_mutated_by_serving():
    doc = ir(0)
    before = copy.deepcopy(doc)
    from service.prediction.prepare import from_ir

    from_ir(doc, max_nodes=1000)
    assert doc == before


def test_a_90_percent_interval_wider_than_tenfold_is_warned_about():
    """Session 24: the ensemble's members disagreed on some int8 graphs of one CPU (int8 ResNet-50 on
    the family-6 model-167 CPU: 0.011-81,511 ms for a 9.9 ms label); such intervals say the value may
    be far off, which a NAS loop reading only the value would miss."""
    from service.prediction.service import WIDE_INTERVAL, interval_warning

    def target(lo, hi, unit="ms", available=True):
        return {"available": available, "value": (lo * hi) ** 0.5, "unit": unit,
                "interval_90": [lo, hi] if available else None, "reason": None}

    calm = {"cpu-a": {"latency": target(3.4, 4.9), "memory": target(20.0, 31.0, "MB")}}
    assert interval_warning(calm) is None
    wide = {"cpu-a": {"latency": target(3.4, 4.9)},
            "cpu-b": {"latency": target(0.281, 1654.0), "memory": target(20.0, 20.0 * WIDE_INTERVAL * 1.01, "MB"),
                      "energy": target(0, 0, "mJ", available=False)}}
    w = interval_warning(wide)
    assert w["code"] == "wide_interval"
    assert "cpu-b latency 0.281-1.65e+03 ms (5886x)" in w["message"] and "cpu-b memory" in w["message"]
    assert "cpu-a" not in w["message"]
