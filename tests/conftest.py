"""Shared test set-up: quiet TensorFlow, shared (session-wide) models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import ghnq_tf  # noqa: E402,F401  (selects tf_keras before TensorFlow loads)

# The ten reference applications: (constructor, input side). 32×32 where the
# model allows it; Xception's minimum is 71.
APPLICATIONS = {
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

_BUILT: dict = {}


def build_application(name: str):
    """Builds (once per test session) a weights=None, 10-class application."""
    if name not in _BUILT:
        from ghnq_tf._keras import keras

        side = APPLICATIONS[name]
        _BUILT[name] = getattr(keras.applications, name)(
            input_shape=(side, side, 3), weights=None, classes=10
        )
    return _BUILT[name]


build_application.names = tuple(APPLICATIONS)


@pytest.fixture(scope="session")
def application():
    """`application(name)` → the shared built model; `application.names` lists them."""
    return build_application
