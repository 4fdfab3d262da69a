"""`quantize` (through `quantize_all`) builds exactly what tfmot's annotate + apply builds.

The reference is `tfmot_quantize`: tfmot's public `quantize_annotate_model` +
`quantize_apply` on the same flat model and scheme. Auto-named layers
(tfmot's `quantize_layer_N`) take a process-wide counter, so each path starts
from `reset_uids()`.
"""

import numpy as np
import pytest
from quant_models import (
    conv_bn_model,
    merges_model,
    nested_model,
    randomize_batch_norms,
    repeated_input_model,
)

import ghnq_tf as gq
from ghnq_tf._compat import tf_keras as tfk
from ghnq_tf._keras import keras, tf
from ghnq_tf.quant.quantize_model import quantize, tfmot_quantize

L = keras.layers


def sequential_cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            L.Conv2D(8, 3, padding="same", use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.Conv2D(8, 3, padding="same", activation="relu"),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(10),
        ],
        name="seq",
    )


def _both(model: keras.Model, **kwargs) -> tuple[keras.Model, keras.Model]:
    keras.backend.reset_uids()
    fast = quantize(model, **kwargs)
    keras.backend.reset_uids()
    reference = tfmot_quantize(model, **kwargs)
    return fast, reference


def assert_same_quantized(fast: keras.Model, reference: keras.Model, side: int = 16) -> None:
    """Same class, layers, config, variables (names, values) and outputs."""
    assert type(fast) is type(reference)
    assert [(type(x), x.name) for x in fast.layers] == [(type(x), x.name) for x in reference.layers]
    assert fast.get_config() == reference.get_config()
    assert [v.name for v in fast.weights] == [v.name for v in reference.weights]
    assert [v.trainable for v in fast.weights] == [v.trainable for v in reference.weights]
    for a, b in zip(fast.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)
    x = tf.random.stateless_uniform([8, side, side, 3], seed=[3, 4])
    for training in (False, True):  # training=True moves the activation ranges alike
        outputs = []
        for qmodel in (fast, reference):
            keras.utils.set_random_seed(0)  # the same dropout masks
            outputs.append(qmodel(x, training=training).numpy())
        np.testing.assert_array_equal(*outputs, err_msg=f"training={training}")
    for a, b in zip(fast.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)


@pytest.mark.parametrize(
    "make, kwargs",
    [
        (sequential_cnn, {"bits": 4}),
        (conv_bn_model, {"bits": 4}),  # residual, separable conv split, BN fusions
        (merges_model, {"bits": (4, 8)}),  # concatenation transforms, standalone BN
        (repeated_input_model, {"bits": 2}),
        (nested_model, {"bits": {"default": 4, "stem/conv": 8}, "first_last_bits": 8}),
    ],
    ids=["sequential", "residual", "merges", "repeated", "nested-policy"],
)
def test_quantize_equals_tfmot_annotate_apply(make, kwargs):
    model = make()
    if make is conv_bn_model:
        randomize_batch_norms(model)
    before = [w.copy() for w in model.get_weights()]
    fast, reference = _both(model, **kwargs)
    assert_same_quantized(fast, reference)
    for old, new in zip(before, model.get_weights(), strict=True):  # input untouched
        np.testing.assert_array_equal(old, new)
    assert "use_legacy_config" not in vars(model)


def test_same_tflite_bytes_after_calibration(model, images):
    fast, reference = _both(model, bits=4)
    for qmodel in (fast, reference):
        gq.calibrate(qmodel, images, steps=2, batch_size=64)
    assert_same_quantized(fast, reference)
    assert gq.export_tflite(fast, representative_data=images[:64]) == gq.export_tflite(
        reference, representative_data=images[:64]
    )


@pytest.mark.slow
def test_mobilenet_v2_equals_tfmot_annotate_apply():
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, classes=10)
    fast, reference = _both(model, bits=4)
    assert_same_quantized(fast, reference, side=32)


@pytest.mark.parametrize("make", [conv_bn_model, merges_model, sequential_cnn])
def test_functional_models_call_each_layer_once(make):
    # One symbolic pass: a functional model's wrapped layers were never called
    # on their own (tfmot's path calls each once while building the layout-
    # transformed model, then its wrapper). Sequential models take that path.
    fast, reference = _both(make(), bits=4)
    wrapped = [layer.layer for layer in fast.layers if hasattr(layer, "layer")]
    calls = {len(tfk.inbound_nodes(layer)) for layer in wrapped}
    assert wrapped and calls == ({1} if make is sequential_cnn else {0})
    assert {len(tfk.inbound_nodes(x.layer)) for x in reference.layers if hasattr(x, "layer")} == {1}
