"""Dashboard test fixtures: the service fixtures (both backends, migrations, empty tables
per test) plus real models, measured on this machine, and a predictor trained on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import Settings
from tests.dashboard import realdata
from tests.service.conftest import (  # noqa: F401  (fixtures)
    ADMIN_KEY,
    anyio_backend,
    app,
    clean_db,
    client,
    database_url,
    db_engine,
    db_sessions,
)


@pytest.fixture(scope="session")
def measured_models(tmp_path_factory: pytest.TempPathFactory) -> list[realdata.Model]:
    models = realdata.build_models()
    realdata.measure_models(models, tmp_path_factory.mktemp("models"))
    return models


@pytest.fixture(scope="session")
def predictor_dir(measured_models: list[realdata.Model], tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("predictors")
    realdata.train_checkpoint(measured_models, directory)
    return directory


@pytest.fixture
def settings(database_url: str, tmp_path: Path, predictor_dir: Path) -> Settings:  # noqa: F811
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        admin_key=ADMIN_KEY,
        predictor_dir=predictor_dir,
    )
