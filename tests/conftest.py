"""Shared test set-up: quiet TensorFlow, shared (session-wide) models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import ghnq_tf  # noqa: E402,F401  (selects tf_keras before TensorFlow loads)
from ghnq_tf._applications import APPLICATIONS  # noqa: E402

_BUILT: dict = {}


def build_application(name: str):
    """Builds (once per test session) a weights=None, 10-class application."""
    if name not in _BUILT:
        from ghnq_tf._applications import build_application as build

        _BUILT[name] = build(name)
    return _BUILT[name]


build_application.names = tuple(APPLICATIONS)


@pytest.fixture(scope="session")
def application():
    """`application(name)` → the shared built model; `application.names` lists them."""
    return build_application
