"""Request bodies of /v1/predictions: gzip-encoded JSON, its limits, and the same answers as plain JSON."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest

from service.config import Settings
from service.json_body import inflate, loads
from tests.service.checkpoints import nb201_graphs
from tests.service.conftest import make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(database_url: str, tmp_path, checkpoint_dir: Path) -> Settings:
    return make_settings(database_url, tmp_path, predictor_dir=checkpoint_dir, max_upload_bytes=200_000)


def gzipped(body: dict) -> tuple[bytes, dict[str, str]]:
    return gzip.compress(json.dumps(body).encode()), {"content-type": "application/json", "content-encoding": "gzip"}


async def test_gzip_batch_answers_like_plain_json(client):
    body = {"items": [{"ir": g.to_dict()} for g in nb201_graphs()[:3]], "devices": "dev-a"}
    plain = await client.post("/v1/predictions/batch", json=body)
    data, headers = gzipped(body)
    assert len(data) < len(json.dumps(body)) / 5
    packed = await client.post("/v1/predictions/batch", content=data, headers=headers)
    assert plain.status_code == packed.status_code == 200, packed.text
    assert [r["predictions"] for r in packed.json()["results"]] == [r["predictions"] for r in plain.json()["results"]]
    one = {"ir": body["items"][0]["ir"], "devices": "dev-a"}
    single, headers = gzipped(one)
    resp = await client.post("/v1/predictions", content=single, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["predictions"] == (await client.post("/v1/predictions", json=one)).json()["predictions"]


async def test_bad_encodings_are_client_errors(client):
    body = {"ir": nb201_graphs()[0].to_dict(), "devices": "dev-a"}
    data, headers = gzipped(body)
    cases = [
        (data[: len(data) // 2], headers, 400),  # truncated stream
        (b"not gzip at all", headers, 400),
        (data + b"trailing", headers, 400),
        (json.dumps(body).encode(), {**headers, "content-encoding": "br"}, 415),
        (gzip.compress(b" " * 300_000 + b"{}"), headers, 413),  # inflates past max_upload_bytes
    ]
    for content, hdrs, status in cases:
        resp = await client.post("/v1/predictions", content=content, headers=hdrs)
        assert resp.status_code == status, (status, resp.text)
        assert set(resp.json()) >= {"error", "detail"}
    ok = await client.post("/v1/predictions", content=json.dumps(body), headers={**headers, "content-encoding": "identity"})
    assert ok.status_code == 200, ok.text


def test_inflate_stops_at_the_limit_without_inflating_everything():
    bomb = zlib.compressobj(wbits=31)
    data = bomb.compress(b"\0" * 50_000_000) + bomb.flush()
    assert len(data) < 100_000
    with pytest.raises(Exception) as err:
        inflate(data, "gzip", 1_000_000)
    assert getattr(err.value, "status_code", None) == 413
    assert inflate(gzip.compress(b"abc"), " GZIP ", 10) == b"abc"
    assert inflate(b"abc", None, 1) == b"abc"


def test_bodies_are_read_as_json_reads_them():
    """orjson parses; what it refuses (lone surrogates, NaN, numbers past float range) json reads."""
    for text in (b'{"a": [1, 2.5, "x", null, true, -9223372036854775808, 18446744073709551615]}',
                 b'{"name": "\\ud800"}', b'{"a": 1e999, "b": 1' + b"0" * 400 + b"}"):
        assert loads(text) == json.loads(text), text
    # integers past 64 bits (no real graph has one) come back as floats, the nearest value
    assert loads(b'{"flops": 100000000000000000000000000000}') == {"flops": 1e29}
    import math

    assert math.isnan(loads(b'{"v": NaN}')["v"])
    with pytest.raises(json.JSONDecodeError, match="Expecting value"):
        loads(b'{"a": }')


async def test_a_batch_with_a_64_bit_overflow_is_answered_per_item(client):
    good = {"ir": nb201_graphs()[0].to_dict()}
    huge = json.loads(json.dumps(good))
    huge["ir"]["nodes"][0]["flops"] = 10**400  # orjson refuses the body; json reads it
    resp = await client.post("/v1/predictions/batch", json={"items": [good, huge], "devices": "dev-a"})
    assert resp.status_code == 200, resp.text
    ok, bad = resp.json()["results"]
    assert ok["error"] is None and bad["error"]["error"] == "invalid_ir"
