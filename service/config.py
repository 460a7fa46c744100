"""Service configuration: one :class:`Settings`, read from ``EDGEPERF_*`` variables and
validated once at start-up. Unsafe values fail loudly instead of being patched over."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from predictor.graph.limits import Limits

log = logging.getLogger(__name__)

#: Admin keys that are refused outside dev mode (copied from examples, too guessable).
PLACEHOLDER_KEYS = frozenset(
    {"", "changeme", "change-me", "changethis", "admin", "secret", "password", "dev"}
)
MIN_ADMIN_KEY_LENGTH = 16
ADMIN_KEY_FILE = "admin_key"


class CoreSettings(BaseSettings):
    """Where the data lives and how uploads are parsed: all that ``edgeperf migrate`` and
    ``edgeperf worker`` need (they take no admin key)."""

    model_config = SettingsConfigDict(env_prefix="EDGEPERF_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("data"), description="model files, SQLite database, dev admin key")
    database_url: str = Field("", description="SQLAlchemy URL; empty = SQLite file under data_dir")
    max_upload_bytes: int = Field(64 * 1024 * 1024, gt=0)
    parse_timeout_s: float = Field(30.0, gt=0)
    parse_workers: int = Field(2, ge=1, le=32)
    max_graph_nodes: int = Field(100_000, gt=0)
    max_tensor_elements: int = Field(2**31, gt=0)
    log_level: str = Field("INFO")
    predictor_dir: Path | None = Field(
        None, description="checkpoints (*.pt) to serve; empty = predictor/checkpoints"
    )
    predictor_reload_s: float = Field(
        5.0, ge=0, description="how often the API checks the active predictor version"
    )
    calibration_k: int = Field(
        25, ge=1, le=50, description="architectures measured to calibrate a new device"
    )
    calibration_on_register: bool = Field(True, description="registering a device queues its calibration")
    calibration_real_networks: bool = Field(
        True,
        description="the zoo's real networks join the corpus candidates of a device's calibration (ONNX: "
        "datasets.zoo's torchvision definitions; TFLite: datasets.zoo_keras' keras.applications)",
    )
    drift_retrain_threshold: int = Field(
        50, ge=1, description="out-of-interval measurements that queue a train job"
    )

    @model_validator(mode="after")
    def _check_url(self) -> CoreSettings:
        url = self.database_url
        if url and not (url.startswith("sqlite:") or url.startswith("postgresql+psycopg://")):
            raise ValueError(
                "EDGEPERF_DATABASE_URL must be sqlite:///<path> or postgresql+psycopg://user@host/db, "
                f"got {url.split('://', 1)[0]}://..."
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'edgeperf.db').resolve()}"

    @property
    def graphs_dir(self) -> Path:
        return self.data_dir / "graphs"

    @property
    def limits(self) -> Limits:
        from predictor.graph.limits import Limits

        return Limits(
            max_file_bytes=self.max_upload_bytes,
            max_nodes=self.max_graph_nodes,
            max_tensor_elements=self.max_tensor_elements,
            max_seconds=self.parse_timeout_s,
        )


class Settings(CoreSettings):
    """All knobs of the service. Every field is set by ``EDGEPERF_<FIELD NAME>``."""

    admin_key: str = Field("", description="bearer token for admin requests")
    dev_mode: bool = Field(False, description="allow a generated admin key (kept in data_dir/admin_key)")
    max_batch_size: int = Field(1000, ge=1, le=100_000, description="graphs per POST /v1/predictions/batch")
    feature_cache_size: int = Field(4096, ge=0, description="featurised stored graphs kept in memory")
    auth_failure_limit: int = Field(
        20, ge=1, description="failed authentications per address and window before 429"
    )
    auth_failure_window_s: float = Field(60.0, gt=0, description="window of the authentication-failure limit")
    seed_reference_devices: bool = Field(
        True, description="start-up lists the shipped checkpoints' devices in the registry (kind reference)"
    )

    @model_validator(mode="after")
    def _check_admin_key(self) -> Settings:
        if not self.dev_mode:
            key = self.admin_key.strip()
            if key.lower() in PLACEHOLDER_KEYS or len(key) < MIN_ADMIN_KEY_LENGTH:
                raise ValueError(
                    "EDGEPERF_ADMIN_KEY is missing or a placeholder: set a random key of at least "
                    f"{MIN_ADMIN_KEY_LENGTH} characters (e.g. `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))'`), or set EDGEPERF_DEV_MODE=1 for local use"
                )
        return self


def ensure_admin_key(settings: Settings) -> tuple[Settings, bool]:
    """In dev mode without a key, read ``data_dir/admin_key`` or create it.

    Returns the settings carrying the key, and whether a new key was generated
    (the CLI prints a new key once; afterwards it lives in the file)."""
    if settings.admin_key or not settings.dev_mode:
        return settings, False
    path = settings.data_dir / ADMIN_KEY_FILE
    created = False
    if path.exists():
        key = path.read_text().strip()
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path.touch(mode=0o600)
        path.write_text(key + "\n")
        created = True
        log.warning("config.dev_admin_key.created", extra={"path": str(path)})
    return settings.model_copy(update={"admin_key": key}), created


def load_settings() -> Settings:
    """Settings from the environment, with the dev-mode admin key resolved."""
    settings, _ = ensure_admin_key(Settings())
    return settings
