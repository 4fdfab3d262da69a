"""retarget: one tfmot wrap serves every bitwidth, exactly."""

import numpy as np
import pytest
from quant_models import conv_bn_model, merges_model, randomize_batch_norms

import ghnq_tf as gq
from ghnq_tf._keras import keras
from ghnq_tf.quant.retarget import model_bits, retarget

TINY_SPEC = {
    "version": 1,
    "width": 8,
    "num_cells": 2,
    "num_nodes": 2,
    "bn": True,
    "normal": [[["sep_conv_3x3", 1]], [["dil_conv_3x3", 2], ["skip_connect", 0]]],
    "reduce": [[["conv_3x3", 0], ["max_pool_3x3", 1]], [["avg_pool_3x3", 2]]],
    "reductions": [1],
}


def _search_space_net():
    keras.utils.set_random_seed(0)
    return gq.search_space.build(TINY_SPEC, input_shape=(16, 16, 3), num_classes=10)


def _strip_names(obj):
    """Layer configs without the auto-numbered names two wraps never share."""
    if isinstance(obj, dict):
        return {k: _strip_names(v) for k, v in obj.items() if k != "name"}
    if isinstance(obj, list):
        return [_strip_names(v) for v in obj]
    return obj


def _configs(qmodel):
    return _strip_names([layer.get_config() for layer in qmodel.layers])


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).uniform(0, 1, (64, 16, 16, 3)).astype("float32")


def _models():
    model = conv_bn_model()
    randomize_batch_norms(model)
    return [model, merges_model(), _search_space_net()]


@pytest.mark.parametrize(
    "index, bits",
    [(0, 4), (0, (2, 8)), (1, 2), (2, 2)],
    ids=["conv_bn-4", "conv_bn-w2a8", "merges-2", "search_space-2"],
)
def test_retargeted_model_equals_a_fresh_quantization(index, bits, data):
    model = _models()[index]
    qmodel = gq.quantize(model, bits=8)
    initial = qmodel.get_weights()
    fresh = gq.quantize(model, bits=bits)
    before = model_bits(qmodel)
    assert retarget(qmodel, bits=bits) is qmodel
    assert model_bits(qmodel) == model_bits(fresh) != before
    assert _configs(qmodel) == _configs(fresh)
    qmodel.set_weights(initial)
    fresh.set_weights(initial)
    gq.calibrate(qmodel, data, batch_size=32)
    gq.calibrate(fresh, data, batch_size=32)
    for mine, theirs in zip(qmodel.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(
        qmodel(data, training=False).numpy(), fresh(data, training=False).numpy()
    )


def test_retarget_errors(data):
    model = conv_bn_model()
    qmodel = gq.quantize(model, bits=4)
    with pytest.raises(ValueError, match=r"`bits` must be an int in 2..8.*Received: bits=9"):
        retarget(qmodel, bits=9)
    with pytest.raises(ValueError, match="retarget takes one int"):
        retarget(qmodel, bits={"default": 4})
    with pytest.raises(ValueError, match="must be a quantize-aware model"):
        retarget(model, bits=4)
