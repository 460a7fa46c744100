"""Concurrent agents posting while predictions run; SIGKILL mid-load; restart: every
acknowledged measurement is in PostgreSQL exactly once and no request got a 5xx."""

from __future__ import annotations

import pytest

from bench.crash_load import run
from tests.service import databases
from tests.service.checkpoints import build_checkpoint, nb201_graphs
from tests.service.model_files import onnx_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif("postgresql" not in databases.backends(), reason="the crash check reads PostgreSQL")
def test_sigkill_mid_load_loses_and_duplicates_nothing(tmp_path):
    (tmp_path / "ckpt").mkdir()
    build_checkpoint(tmp_path / "ckpt")
    pg_url = databases.create_pg_database("edgeperf_crash")
    try:
        result = run(agents=50, batches=6, batch_size=5, predictors=2, kill_fraction=0.3, workdir=tmp_path,
                     pg_url=pg_url, checkpoint_dir=tmp_path / "ckpt", ir=nb201_graphs()[0].to_dict(),
                     model=onnx_bytes(), timeout_s=400)
    finally:
        databases.drop_pg_database(pg_url)
    db = result["db"]
    assert 0 < result["acked_before_kill"] < result["expected"], "the kill must land mid-load"
    assert db["acknowledged"] == result["expected"], "every batch is acknowledged once the server is back"
    assert db["missing"] == 0
    assert db["duplicated"] == 0
    assert db["stored"] == result["expected"]
    assert result["post"].server_errors == 0
    assert result["predict"].server_errors == 0
    assert result["post"].transport_errors > 0 or result["predict"].transport_errors > 0, "the crash was felt"
