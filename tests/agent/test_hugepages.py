from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from agent import hugepages
from agent.protocol import ProtocolConfig, measure
from tests.agent.conftest import QUICK
from tests.agent.models import onnx_mlp


def _anon_huge_kb() -> int:
    match = re.search(r"AnonHugePages:\s+(\d+) kB", Path("/proc/self/smaps_rollup").read_text())
    return int(match.group(1)) if match else 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_collapse_moves_large_anonymous_memory_to_huge_pages():
    block = np.ones(16 * 1024 * 1024 // 8)  # 16 MiB, anonymous
    before = _anon_huge_kb()
    done = hugepages.collapse()
    if "unsupported" in done:
        pytest.skip(str(done["unsupported"]))
    assert done["bytes"] >= 8 * 1024 * 1024 and _anon_huge_kb() - before >= 8 * 1024
    assert float(block.sum()) == block.size  # the data survived the move


def test_protocol_records_huge_pages(model_dir):
    cfg = ProtocolConfig(**{**QUICK.__dict__, "huge_pages": True})
    r = measure(onnx_mlp(model_dir / "mlp1024.onnx", 1024), config=cfg, memory=False)
    assert r["protocol"]["huge_pages"] and ("bytes" in r["huge_pages"] or "unsupported" in r["huge_pages"])
    assert measure(onnx_mlp(model_dir / "mlp1024.onnx", 1024), config=QUICK, memory=False)["huge_pages"] is None
