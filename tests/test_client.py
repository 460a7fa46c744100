"""``edgeperf.client`` and ``edgeperf predict --json`` against a real ``edgeperf serve``
(uvicorn) on a free loopback port, with a real tiny trained checkpoint."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edgeperf.client import EdgePerfClient, EdgePerfError, to_ir_document
from edgeperf.client_cli import parse_input_shapes
from tests.live_server import EDGEPERF, free_port, live_server
from tests.service.checkpoints import build_checkpoint, nb201_graphs
from tests.service.model_files import onnx_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN_KEY = "client-admin-key-0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("client")
    build_checkpoint(root / "checkpoints")
    with live_server(root, None, ADMIN_KEY, EDGEPERF_PREDICTOR_DIR=str(root / "checkpoints")) as srv:
        yield srv.url


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "net64.onnx"
    path.write_bytes(onnx_bytes(64))
    return path


def test_predict_sends_structure_only(server, model_file):
    doc = to_ir_document(model_file)
    assert len(json.dumps(doc)) < model_file.stat().st_size / 3  # weights stay home
    with EdgePerfClient(server) as api:
        answer = api.predict(model_file, device="dev-a")
        by_graph = api.predict(
            nb201_graphs()[0], devices=["dev-a", "dev-b"], targets=["latency"], breakdown=True
        )
    latency = answer["predictions"]["dev-a"]["latency"]
    assert latency["available"] and latency["unit"] == "ms" and latency["value"] > 0
    assert answer["predictor_version"].startswith("tiny-")
    assert set(by_graph["breakdown"]) == {"dev-a", "dev-b"}
    assert len(by_graph["breakdown"]["dev-b"]["latency"]) == len(nb201_graphs()[0].nodes)


def test_upload_batch_and_devices(server, model_file):
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    created = httpx.post(
        f"{server}/v1/devices", json={"name": "dev-a", "runtime": "onnxruntime"}, headers=admin
    )
    assert created.status_code == 201, created.text
    with EdgePerfClient(server) as api:
        # dev-b: listed at start-up as a reference device of the served checkpoint; dev-a taken over
        assert {d["name"]: d["kind"] for d in api.devices()} == {"dev-a": "registered", "dev-b": "reference"}
        graph = api.upload_graph(model_file, input_shapes={"x": [1, 3, 32, 32]})
        batch = api.predict_batch(
            [graph["id"], model_file, *nb201_graphs()[:3], {"nodes": "x"}, 10**9], devices="all"
        )
        by_id = api.predict(graph["id"], device="dev-a")
    assert (batch["succeeded"], batch["failed"]) == (5, 2)
    assert list(batch["results"][0]["predictions"]) == ["dev-a", "dev-b"]
    assert [r["error"]["error"] for r in batch["results"][5:]] == ["invalid_ir", "not_found"]
    assert by_id["graph_id"] == graph["id"]


def test_big_prediction_bodies_are_sent_gzip_compressed(server):
    from edgeperf.client import GZIP_MIN_BYTES, encode_json

    graphs = (nb201_graphs() * 16)[:16]  # about 24 KB of IR each
    assert len(encode_json({"items": [{"ir": g.to_dict()} for g in graphs]})) > GZIP_MIN_BYTES
    sent: list[tuple[str | None, int]] = []
    with EdgePerfClient(server) as api, EdgePerfClient(server, gzip_min_bytes=None) as plain:
        for client in (api, plain):
            client._http.event_hooks["request"].append(
                lambda req: sent.append((req.headers.get("content-encoding"), len(req.content))))
        small = api.predict(graphs[0], device="dev-b")
        packed = api.predict_batch(graphs, device="dev-b", encoding="ir")
        unpacked = plain.predict_batch(graphs, device="dev-b", encoding="ir")
    assert [enc for enc, _ in sent] == [None, "gzip", None]  # one graph stays under the threshold
    assert sent[1][1] * 5 < sent[2][1]
    assert packed["succeeded"] == 16 and packed["results"] == unpacked["results"]
    assert small["predictions"] == packed["results"][0]["predictions"]


def test_batches_are_sent_in_the_columns_form_by_default(server, model_file):
    graphs = [model_file, *nb201_graphs()[:4]]
    sent: list[dict] = []
    with EdgePerfClient(server, gzip_min_bytes=None) as api:
        api._http.event_hooks["request"].append(lambda req: sent.append(json.loads(req.content)))
        columns = api.predict_batch(graphs, devices=["dev-a", "dev-b"])
        documents = api.predict_batch(graphs, devices=["dev-a", "dev-b"], encoding="ir")
        with pytest.raises(ValueError):
            api.predict_batch(graphs, device="dev-a", encoding="xml")
    assert [set(item) for item in sent[0]["items"]] == [{"columns"}] * 5
    assert [set(item) for item in sent[1]["items"]] == [{"ir"}] * 5
    assert len(json.dumps(sent[0])) * 2 < len(json.dumps(sent[1]))
    assert columns == documents and columns["succeeded"] == 5


def test_encode_json_is_compact_and_falls_back_for_what_orjson_refuses():
    from edgeperf.client import encode_json

    assert encode_json({"a": [1, 2.5, "x"]}) == b'{"a":[1,2.5,"x"]}'
    assert json.loads(encode_json({1: 2**70})) == {"1": 2**70}  # int key, 70-bit int: json's reading


def test_errors_are_typed_with_the_server_body(server, model_file):
    with EdgePerfClient(server) as api:
        with pytest.raises(EdgePerfError) as info:
            api.predict(model_file, device="ghost")
        assert (info.value.status, info.value.error) == (
            404,
            "unknown_device",
        ) and "ghost" in info.value.detail
        with pytest.raises(EdgePerfError) as info:
            api.predict({"nodes": []}, device="dev-a")
        assert (info.value.status, info.value.error) == (422, "invalid_ir")
    with EdgePerfClient(f"http://127.0.0.1:{free_port()}") as dead, pytest.raises(EdgePerfError) as info:
        dead.devices()
    assert info.value.status == 0 and info.value.error == "connection_error"
    with pytest.raises(ValueError):
        EdgePerfClient(server).predict(model_file)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EDGEPERF, "predict", *args], capture_output=True, text=True, timeout=180)


def test_cli_predict_json(server, model_file):
    done = _cli(
        str(model_file), "--server", server, "--device", "dev-a", "--input-shape", "x=1,3,32,32", "--json"
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["latency_ms"] > 0 and out["energy_mj"] > 0 and out["peak_memory_mb"] > 0
    lo, hi = out["latency_interval_ms"]
    assert lo <= out["latency_ms"] <= hi
    assert out["predictor_version"].startswith("tiny-") and isinstance(out["warnings"], list)
    partial = json.loads(_cli(str(model_file), "--server", server, "--device", "dev-b", "--json").stdout)
    assert partial["latency_ms"] > 0 and partial["energy_mj"] is None and partial["peak_memory_mb"] is None
    assert "energy" in partial["unavailable"]
    table = _cli(str(model_file), "--server", server, "--device", "dev-b")
    assert table.returncode == 0 and "latency" in table.stdout and "n/a" in table.stdout


def test_cli_errors(server, model_file, tmp_path):
    bad = _cli(str(model_file), "--server", server, "--device", "ghost", "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["error"] == "unknown_device"
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    local = _cli(str(junk), "--server", server, "--device", "dev-a", "--json")
    assert local.returncode == 1 and json.loads(local.stdout)["error"] == "invalid_model"
    missing = _cli(str(tmp_path / "missing.onnx"), "--server", server, "--device", "dev-a")
    assert missing.returncode == 1 and "missing.onnx" in missing.stderr


def test_input_shape_parsing():
    assert parse_input_shapes(["x=1,3,224,224", "mask=1,77"]) == {"x": [1, 3, 224, 224], "mask": [1, 77]}
    assert parse_input_shapes([]) is None
    for bad in ("x", "x=", "x=1,a", "=1,2", "x=0,3"):
        with pytest.raises(ValueError):
            parse_input_shapes([bad])
