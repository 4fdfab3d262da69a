"""The ten reference `tf_keras.applications` models (10 classes, small inputs).

Used by the `ghnq-tf graph` command, the tests and the benchmarks: 32×32
inputs where the model allows it, Xception at its minimum, 71×71.
"""

from __future__ import annotations

from typing import Any

APPLICATIONS: dict[str, int] = {
    "MobileNet": 32,
    "MobileNetV2": 32,
    "MobileNetV3Small": 32,
    "ResNet50": 32,
    "ResNet50V2": 32,
    "DenseNet121": 32,
    "EfficientNetB0": 32,
    "NASNetMobile": 32,
    "VGG16": 32,
    "Xception": 71,
}


def build_application(name: str, *, side: int | None = None, classes: int = 10) -> Any:
    """A `weights=None` application model at its reference input size."""
    from ghnq_tf._keras import keras

    side = side or APPLICATIONS[name]
    return getattr(keras.applications, name)(
        input_shape=(side, side, 3), weights=None, classes=classes
    )
