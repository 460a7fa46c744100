"""Session fixtures that build real model files once per test run (cached in a tmp dir)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.predictor import model_builders as mb


class ModelCache:
    """Builds a model file on first use and keeps it on disk for the rest of the session."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str, build: Callable[[], bytes]) -> Path:
        p = self.root / name
        if not p.exists():
            p.write_bytes(build())
        return p

    def get(self, name: str, build: Callable[[], bytes]) -> bytes:
        return self.path(name, build).read_bytes()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> ModelCache:
    return ModelCache(tmp_path_factory.mktemp("ir_models"))


@pytest.fixture(scope="session")
def onnx_resnet50(model_cache: ModelCache) -> bytes:
    from datasets.zoo import export_onnx

    return model_cache.get("resnet50.onnx", lambda: export_onnx("resnet50", opset=13))


@pytest.fixture(scope="session")
def onnx_mobilenet_v2(model_cache: ModelCache) -> bytes:
    from datasets.zoo import export_onnx

    return model_cache.get("mobilenet_v2.onnx", lambda: export_onnx("mobilenet_v2", opset=13))


@pytest.fixture(scope="session")
def tflite_small(model_cache: ModelCache) -> dict[str, bytes]:
    model = mb.keras_small_cnn()
    return {mode: model_cache.get(f"small_{mode}.tflite", lambda m=mode: mb.tflite_from_keras(model, m))
            for mode in ("float", "fp16", "int8")}


@pytest.fixture(scope="session")
def tflite_mobilenet_v2(model_cache: ModelCache) -> bytes:
    return model_cache.get("keras_mobilenet_v2.tflite", lambda: mb.tflite_keras_app("MobileNetV2"))
