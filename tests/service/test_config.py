from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.config import CoreSettings, Settings, ensure_admin_key, load_settings


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for var in ("ADMIN_KEY", "DEV_MODE", "DATABASE_URL", "DATA_DIR"):
        monkeypatch.delenv(f"EDGEPERF_{var}", raising=False)


@pytest.mark.parametrize("key", ["", "changeme", "CHANGETHIS", "short-key"])
def test_refuses_missing_or_placeholder_admin_key(key):
    with pytest.raises(ValidationError, match="EDGEPERF_ADMIN_KEY"):
        Settings(admin_key=key)


def test_reads_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEPERF_ADMIN_KEY", "k" * 32)
    monkeypatch.setenv("EDGEPERF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EDGEPERF_MAX_UPLOAD_BYTES", "1234")
    s = Settings()
    assert s.max_upload_bytes == 1234 and s.limits.max_file_bytes == 1234
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path.resolve()}/edgeperf.db"


@pytest.mark.parametrize("url", ["mysql://x/y", "postgresql://127.0.0.1/test"])
def test_rejects_unsupported_database_urls(url):
    with pytest.raises(ValidationError, match="EDGEPERF_DATABASE_URL"):
        CoreSettings(database_url=url)


def test_rejects_bad_limits():
    with pytest.raises(ValidationError):
        Settings(admin_key="k" * 32, parse_timeout_s=0)


def test_dev_mode_generates_a_key_once(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEPERF_DEV_MODE", "1")
    monkeypatch.setenv("EDGEPERF_DATA_DIR", str(tmp_path))
    first, created = ensure_admin_key(Settings())
    assert created and len(first.admin_key) >= 32
    assert (tmp_path / "admin_key").stat().st_mode & 0o077 == 0
    second = load_settings()
    assert second.admin_key == first.admin_key


def test_explicit_key_wins_in_dev_mode(tmp_path):
    s, created = ensure_admin_key(Settings(dev_mode=True, admin_key="mine", data_dir=tmp_path))
    assert s.admin_key == "mine" and not created and not (tmp_path / "admin_key").exists()
