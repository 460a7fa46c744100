from __future__ import annotations

from pathlib import Path

import pytest

from agent.protocol import ProtocolConfig
from tests.agent import models

#: A quick protocol for tests: the logic is exercised, not the figures.
QUICK = ProtocolConfig(warmup_s=0.02, runs_per_round=5, min_round_s=0.01, min_rounds=2, max_rounds=3,
                       max_remeasure=1, remeasure_rounds=1)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("agent-models")


@pytest.fixture(scope="session")
def onnx_model(model_dir: Path) -> Path:
    return models.onnx_convnet(model_dir / "conv.onnx")


@pytest.fixture(scope="session")
def onnx_bad(model_dir: Path) -> Path:
    return models.onnx_unsupported(model_dir / "fancy.onnx")


@pytest.fixture(scope="session")
def tflite_model(model_dir: Path) -> Path:
    return models.tflite_convnet(model_dir / "conv.tflite")


@pytest.fixture(scope="session")
def tflite_bad(model_dir: Path) -> Path:
    return models.tflite_custom_op(model_dir / "digamma.tflite")
