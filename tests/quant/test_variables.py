"""`target_variables`: original weights → variables of the quantized model."""

import numpy as np
import pytest
from quant_models import nested_model

from ghnq_tf._keras import keras
from ghnq_tf.quant import quantize, target_variables
from ghnq_tf.quant.canonical import layer_key, walk_layers


def _original_weights(model, trainable_only=True):
    result = {}
    for path, layer in walk_layers(model):
        for var in layer.weights:
            attr = var.name.split("/")[-1].split(":")[0]
            if getattr(layer, attr, None) is var and (var.trainable or not trainable_only):
                result[(layer_key(path), attr)] = var
    return result


@pytest.mark.parametrize("builder", ["model", "nested"])
def test_every_trainable_weight_is_mapped(builder, model):
    original = model if builder == "model" else nested_model()
    qmodel = quantize(original, bits=4)
    targets = target_variables(qmodel, original)
    expected = _original_weights(original)
    assert set(targets) == set(expected)
    qvars = {id(v) for v in qmodel.trainable_variables}
    for key, var in targets.items():
        assert var.shape == expected[key].shape
        assert id(var) in qvars  # a real variable of the quantized model
        np.testing.assert_array_equal(var.numpy(), expected[key].numpy())
    assert len({id(v) for v in targets.values()}) == len(targets)


def test_names_and_batch_norm(model):
    qmodel = quantize(model, bits=4)
    targets = target_variables(qmodel, model)
    assert {attr for (layer, attr) in targets if layer == "sep"} == {
        "depthwise_kernel",
        "pointwise_kernel",
        "bias",
    }
    assert ("bn1", "gamma") in targets and ("bn1", "beta") in targets
    assert ("bn1", "moving_mean") not in targets
    bn = qmodel.get_layer("quant_bn1").layer
    assert targets[("bn1", "gamma")] is bn.gamma  # BN is kept: gamma is the BN's own variable
    full = target_variables(qmodel, model, include_non_trainable=True)
    assert full[("bn1", "moving_mean")] is bn.moving_mean


def test_assigning_changes_the_quantized_model(model, images):
    qmodel = quantize(model, bits=8)
    targets = target_variables(qmodel, model)
    before = qmodel(images[:2], training=True).numpy()
    targets[("logits", "bias")].assign(np.full((10,), 5.0, "float32"))
    after = qmodel(images[:2], training=True).numpy()
    assert not np.allclose(before, after)
    assert np.all(model.get_layer("logits").bias.numpy() == 0.0)  # original untouched


def test_mismatched_model(model):
    qmodel = quantize(model, bits=4)
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="logits")])
    with pytest.raises(ValueError, match="no variable for weight"):
        target_variables(qmodel, other)
