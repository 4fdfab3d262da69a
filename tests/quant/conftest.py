"""Fixtures of the quant tests (16×16 inputs keep them fast)."""

import numpy as np
import pytest
from quant_models import conv_bn_model, randomize_batch_norms

from ghnq_tf._keras import keras


@pytest.fixture
def model() -> keras.Model:
    m = conv_bn_model()
    randomize_batch_norms(m)
    return m


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (128, 16, 16, 3)).astype("float32")
