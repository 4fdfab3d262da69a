"""`calibrate`: BN statistics and activation ranges from data, weights untouched."""

import numpy as np
import pytest
from quant_models import conv_bn_model

from ghnq_tf._keras import keras, tf
from ghnq_tf.quant import calibrate, quantize, quantizer_sites
from ghnq_tf.quant.calibration import Calibrator
from ghnq_tf.quant.retarget import retarget

L = keras.layers


def _trainable(qmodel):
    return [v.numpy().copy() for v in qmodel.trainable_variables]


def test_weights_are_bit_identical(model, images):
    qmodel = quantize(model, bits=4)
    before = _trainable(qmodel)
    assert calibrate(qmodel, images, steps=2, batch_size=64) is qmodel
    after = _trainable(qmodel)
    assert len(before) == len(after) > 0
    for a, b in zip(before, after, strict=True):
        assert a.tobytes() == b.tobytes()


def test_batch_norm_statistics_are_exact(images):
    # BN directly on the (8-bit quantized) input: its statistics are those of
    # the quantized images, pooled exactly over the batches.
    inputs = keras.Input((16, 16, 3))
    x = L.BatchNormalization(name="bn")(L.Add()([inputs, inputs]))
    model = keras.Model(inputs, L.Dense(2)(L.Flatten()(x)))
    qmodel = calibrate(quantize(model, bits=8), images, steps=4, batch_size=32)
    quantized = 2 * np.asarray(qmodel.layers[1](images, training=False))  # input quantizer
    bn = next(
        layer.layer
        for layer in qmodel.layers
        if getattr(layer, "layer", None) is not None
        and isinstance(layer.layer, L.BatchNormalization)
    )
    np.testing.assert_allclose(bn.moving_mean.numpy(), quantized.mean((0, 1, 2)), atol=0.02)
    np.testing.assert_allclose(bn.moving_variance.numpy(), quantized.var((0, 1, 2)), rtol=0.05)


@pytest.mark.parametrize("ranges", ["minmax", "mse"])
def test_activation_ranges_come_from_data(model, images, ranges):
    qmodel = quantize(model, bits=4)
    calibrate(qmodel, images, steps=2, batch_size=64, ranges=ranges)
    for site in quantizer_sites(qmodel):
        if site.kind == "weight":
            continue
        for qvars in site.variables:
            lo, hi = float(qvars["min_var"].numpy()), float(qvars["max_var"].numpy())
            assert lo <= 0.0 <= hi and hi - lo > 0.0
            assert (lo, hi) != (-6.0, 6.0)
    inp = next(s for s in quantizer_sites(qmodel) if s.kind == "input").variables[0]
    assert float(inp["min_var"].numpy()) == 0.0
    # Images in [0, 1]: min/max sees ~1; least squares may clip the bright tail.
    low = 0.95 if ranges == "minmax" else 0.5
    assert low < float(inp["max_var"].numpy()) <= 1.0


def test_weight_ranges_follow_weights(model, images):
    qmodel = quantize(model, bits=4)
    calibrate(qmodel, images[:16], steps=1, ranges="minmax")
    for site in quantizer_sites(qmodel):
        if site.kind == "weight":
            w = site.weight.numpy()
            axes = tuple(range(w.ndim - 1)) if site.quantizer.per_axis else None
            np.testing.assert_allclose(
                site.variables[0]["max_var"].numpy(), np.abs(w).max(axis=axes), rtol=1e-6
            )


@pytest.mark.parametrize("kind", ["array", "xy_tuple", "dataset", "labeled_dataset", "unbatched"])
def test_data_forms(model, images, kind):
    labels = np.zeros(len(images), "int32")
    data = {
        "array": images,
        "xy_tuple": (images, labels),
        "dataset": tf.data.Dataset.from_tensor_slices(images).batch(32),
        "labeled_dataset": tf.data.Dataset.from_tensor_slices((images, labels)).batch(32),
        "unbatched": tf.data.Dataset.from_tensor_slices((images, labels)),
    }[kind]
    qmodel = quantize(model, bits=4)
    calibrate(qmodel, data, steps=2)
    relu = next(s for s in quantizer_sites(qmodel) if s.layer.name == "quant_relu1")
    assert float(relu.variables[0]["max_var"].numpy()) != 6.0


def test_model_left_consistent_after_calibration(model, images):
    qmodel = quantize(model, bits=4)
    calibrate(qmodel, images, steps=1)
    inner = [getattr(layer, "layer", layer) for layer in qmodel.layers]
    assert all(layer.trainable for layer in inner)
    assert all(layer.momentum == 0.99 for layer in inner if isinstance(layer, L.BatchNormalization))
    assert all(layer.rate == 0.2 for layer in inner if isinstance(layer, L.Dropout))
    kinds = {type(s.quantizer).__name__ for s in quantizer_sites(qmodel)}
    assert "MovingAverageQuantizer" in kinds  # tfmot's quantizers are back


def test_errors(model, images):
    with pytest.raises(ValueError, match="quantize-aware model"):
        calibrate(model, images)
    qmodel = quantize(model, bits=4)
    with pytest.raises(ValueError, match="no batch"):
        calibrate(qmodel, images[:0])
    with pytest.raises(TypeError, match="`data` must be"):
        calibrate(qmodel, [1, 2, 3])
    with pytest.raises(ValueError, match="`steps` must be"):
        calibrate(qmodel, images, steps=0)
    with pytest.raises(ValueError, match="`ranges` must be one of 'minmax', 'mse'"):
        calibrate(qmodel, images, ranges="max")
    with pytest.raises(ValueError, match="no batch"):
        Calibrator(qmodel).calibrate(images[:0])
    with pytest.raises(ValueError, match="quantize-aware model"):
        Calibrator(model)


def test_calibrator_reused_equals_fresh_calibrations_and_traces_once_per_bits():
    data = np.random.default_rng(0).uniform(0, 1, (64, 16, 16, 3)).astype("float32")
    model = conv_bn_model()
    reference = quantize(model, bits=8)
    qmodel = quantize(model, bits=8)
    calibrator = Calibrator(qmodel)
    rng = np.random.default_rng(1)
    # New weights every time, new bits once, both range methods.
    for bits, ranges in ((8, "mse"), (8, "mse"), (2, "mse"), (2, "minmax")):
        retarget(qmodel, bits=bits)
        retarget(reference, bits=bits)
        for mine, theirs in zip(qmodel.trainable_weights, reference.trainable_weights, strict=True):
            value = rng.normal(0, 0.3, mine.shape).astype("float32")
            mine.assign(value)
            theirs.assign(value)
        calibrator.calibrate(data, batch_size=32, ranges=ranges)
        calibrate(reference, data, batch_size=32, ranges=ranges)
        for mine, theirs in zip(qmodel.get_weights(), reference.get_weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    assert calibrator.traces == 6  # two passes, traced once per (bitwidth, ranges)


@pytest.mark.parametrize("ranges", ["mse", "minmax"])
def test_untraced_calibrator_matches_the_traced_one(ranges):
    data = np.random.default_rng(0).uniform(0, 1, (64, 16, 16, 3)).astype("float32")
    model = conv_bn_model()
    traced, eager = quantize(model, bits=4), quantize(model, bits=4)
    rng = np.random.default_rng(2)
    for mine, theirs in zip(eager.trainable_weights, traced.trainable_weights, strict=True):
        value = rng.normal(0, 0.3, mine.shape).astype("float32")
        mine.assign(value)
        theirs.assign(value)
    before = eager.get_weights()
    calibrator = Calibrator(eager, traced=False)
    calibrator.calibrate(data, batch_size=32, ranges=ranges)
    Calibrator(traced).calibrate(data, batch_size=32, ranges=ranges)
    assert calibrator.traces == 0
    changed = 0
    for old, mine, theirs in zip(before, eager.get_weights(), traced.get_weights(), strict=True):
        # Graph and eager kernels may differ in the last float bits.
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
        changed += not np.array_equal(old, mine)
    assert changed > 0  # BN statistics and ranges were set
    with pytest.raises(TypeError, match="`traced` must be a bool"):
        Calibrator(eager, traced=1)
