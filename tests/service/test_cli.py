from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EDGEPERF = str(Path(sys.executable).parent / "edgeperf")


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPERF_")}
    base["EDGEPERF_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run([EDGEPERF, *args], env={**base, **env}, capture_output=True, text=True, timeout=120)


def test_serve_refuses_a_weak_admin_key_without_echoing_it(tmp_path):
    done = run(["serve"], tmp_path, EDGEPERF_ADMIN_KEY="hunter2-weak")
    assert done.returncode == 2
    assert "EDGEPERF_ADMIN_KEY is missing or a placeholder" in done.stderr
    assert "hunter2-weak" not in done.stderr + done.stdout
    assert not (tmp_path / "data" / "edgeperf.db").exists()


def test_migrate_creates_the_sqlite_schema_and_rejects_bad_urls(tmp_path):
    assert run(["migrate"], tmp_path).returncode == 0
    assert (tmp_path / "data" / "edgeperf.db").exists()
    bad = run(["migrate"], tmp_path, EDGEPERF_DATABASE_URL="mysql://db/x")
    assert bad.returncode == 2 and "EDGEPERF_DATABASE_URL" in bad.stderr
