"""The zoo's real architectures for TFLite: Keras' own definitions (``keras.applications``,
random weights) converted with the TFLite converter, as a TFLite deployment gets them.

:mod:`datasets.zoo` writes the torchvision / timm definitions in torch for ONNX; a faithful
TFLite file of those would need a Keras port of every family. ``keras.applications`` *is* the
TensorFlow side's reference port of most of them (MobileNet V1/V2/V3, ResNet, DenseNet,
EfficientNet, ConvNeXt) plus some of its own (NASNet, Inception V3), so a LiteRT device's zoo is
built from it. A name shared with :data:`datasets.zoo.CATALOG` (``mobilenet_v2``, ``resnet50``,
...) is the same design in Keras' definition; where the two differ in detail (Keras' ResNet-50 is
the original v1, torchvision's v1.5; Keras' EfficientNet-B2 is at its paper resolution 260,
torchvision's at 288) the catalog's published cost says which.

Records of these networks have ``spec = {"space": "zoo", "name", "resolution", "source":
"keras"}`` and the same ``arch_id`` form (``zoo-<name>-<resolution>``) as the ONNX zoo's; they live
in LiteRT devices' corpora only, as ``variant`` fp32 and (``measure-zoo --variants int8``) int8, the
same network full-integer quantised.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

# set before TensorFlow is first imported (it reads it once); as datasets.build_keras does
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SOURCE = "keras"


@dataclass(frozen=True)
class KerasModel:
    """A ``keras.applications`` constructor with its arguments and published cost (GMACs and
    millions of parameters at ``resolution``; None where no figure was published)."""

    name: str
    ctor: str
    gmacs: float | None
    mparams: float
    resolution: int = 224
    kwargs: dict[str, Any] = field(default_factory=dict)
    source: str = "keras.applications"


_K = KerasModel
_NOPRE = {"include_preprocessing": False}  # the models that build their own input scaling in
CATALOG: dict[str, KerasModel] = {m.name: m for m in (
    _K("mobilenet_v1", "MobileNet", 0.569, 4.23, source="MobileNets paper"),
    _K("mobilenet_v1_050", "MobileNet", 0.149, 1.33, kwargs={"alpha": 0.5}, source="MobileNets paper"),
    _K("mobilenet_v2", "MobileNetV2", 0.300, 3.50),
    _K("mobilenet_v2_050", "MobileNetV2", 0.097, 1.95, kwargs={"alpha": 0.5}, source="MobileNetV2 paper"),
    _K("mobilenet_v2_075", "MobileNetV2", 0.209, 2.61, kwargs={"alpha": 0.75}, source="MobileNetV2 paper"),
    _K("mobilenet_v2_140", "MobileNetV2", 0.582, 6.06, kwargs={"alpha": 1.4}, source="MobileNetV2 paper"),
    _K("mobilenet_v3_small", "MobileNetV3Small", 0.056, 2.54, kwargs=_NOPRE, source="MobileNetV3 paper"),
    _K("mobilenet_v3_large", "MobileNetV3Large", 0.217, 5.48, kwargs=_NOPRE, source="MobileNetV3 paper"),
    _K("mobilenet_v3_small_minimalistic", "MobileNetV3Small", None, 2.05, kwargs={**_NOPRE, "minimalistic": True}),
    _K("mobilenet_v3_large_minimalistic", "MobileNetV3Large", 0.209, 3.91,
       kwargs={**_NOPRE, "minimalistic": True}, source="TF models MobileNetV3 table"),
    _K("resnet50", "ResNet50", 3.86, 25.64, source="ResNet paper (v1)"),
    _K("resnet50_v2", "ResNet50V2", None, 25.61),
    _K("densenet121", "DenseNet121", 2.83, 8.06),
    _K("efficientnet_b0", "EfficientNetB0", 0.39, 5.33, source="EfficientNet paper"),
    _K("efficientnet_b1", "EfficientNetB1", 0.70, 7.86, resolution=240, source="EfficientNet paper"),
    _K("efficientnet_b2", "EfficientNetB2", 1.0, 9.18, resolution=260, source="EfficientNet paper"),
    _K("efficientnet_v2_b0", "EfficientNetV2B0", None, 7.20, kwargs=_NOPRE),
    _K("nasnet_mobile", "NASNetMobile", 0.564, 5.33, source="NASNet paper"),
    _K("inception_v3", "InceptionV3", 5.72, 23.85, resolution=299, source="torchvision (same design)"),
    _K("convnext_tiny", "ConvNeXtTiny", 4.46, 28.59, kwargs=_NOPRE, source="ConvNeXt paper"),
)}

#: resolutions measured besides the reference one (as :data:`datasets.zoo.RESOLUTION_VARIANTS`)
RESOLUTION_VARIANTS: dict[str, tuple[int, ...]] = {
    "mobilenet_v1": (160,), "mobilenet_v2": (128, 160, 192), "mobilenet_v3_large": (160, 192),
    "mobilenet_v3_small": (160,), "resnet50": (160,), "efficientnet_b0": (192,),
}

#: (name, resolution) pairs of a LiteRT device's zoo corpus
ENTRIES: list[tuple[str, int]] = [(n, m.resolution) for n, m in CATALOG.items()] + [
    (n, r) for n, rs in RESOLUTION_VARIANTS.items() for r in rs]


def spec_of(name: str, resolution: int) -> dict[str, Any]:
    return {"space": "zoo", "name": name, "resolution": int(resolution), "source": SOURCE}


def build(name: str, resolution: int | None = None) -> Any:
    """The named ``keras.applications`` model (NHWC, 1,000 classes, seed-0 random weights)."""
    import keras

    if name not in CATALOG:
        raise KeyError(f"unknown Keras zoo architecture {name!r}; known: {sorted(CATALOG)}")
    m = CATALOG[name]
    res = int(resolution or m.resolution)
    keras.utils.set_random_seed(0)
    ctor = getattr(keras.applications, m.ctor)
    return ctor(input_shape=(res, res, 3), weights=None, **m.kwargs)


def export_tflite(name: str, resolution: int | None = None, int8: bool = False) -> bytes:
    """TFLite bytes of the named model at ``resolution`` (batch 1, input ``input``), converted as
    the search spaces' models are (:func:`datasets.build_keras.convert`): float32, or with ``int8``
    full-integer quantised (int8 input and output, calibrated on seed-0 random inputs), the file an
    int8 edge deployment runs."""
    from datasets.build_keras import convert

    model = build(name, resolution)
    return convert(model, [1, *model.input_shape[1:]], int8=int8)
