"""Fixtures of the export tests: a tiny calibrated model per bit width."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "quant"))

from quant_models import conv_bn_model, randomize_batch_norms  # noqa: E402

from ghnq_tf.quant import calibrate, quantize  # noqa: E402


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (96, 16, 16, 3)) * rng.uniform(0.2, 1.0, (96, 1, 1, 1))
    return x.astype("float32")


@pytest.fixture(scope="module")
def float_model():
    model = conv_bn_model()
    randomize_batch_norms(model)
    return model


@pytest.fixture(scope="module")
def qmodels(float_model, images):
    """{bits: calibrated quantize-aware model}, built lazily."""
    cache = {}

    def get(bits):
        if bits not in cache:
            cache[bits] = calibrate(
                quantize(float_model, bits=bits), images, steps=2, batch_size=48
            )
        return cache[bits]

    return get
