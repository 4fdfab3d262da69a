"""Least-squares quantizer ranges (`ranges="mse"` of `gq.calibrate`)."""

import numpy as np
import pytest

from ghnq_tf._keras import tf
from ghnq_tf.quant import calibrate, quantize, quantizer_sites
from ghnq_tf.quant.mse_ranges import MSERangeQuantizer, check_ranges, mse_range


def _error(x, lo, hi, bits, narrow):
    """Mean squared fake-quantization error per channel of the last axis."""
    x = tf.reshape(tf.constant(x), [-1, np.shape(lo)[0]]) if np.ndim(lo) else tf.constant(x)
    q = (
        tf.quantization.fake_quant_with_min_max_vars_per_channel(
            x, lo, hi, num_bits=bits, narrow_range=narrow
        )
        if np.ndim(lo)
        else tf.quantization.fake_quant_with_min_max_vars(
            x, lo, hi, num_bits=bits, narrow_range=narrow
        )
    )
    axis = 0 if np.ndim(lo) else None
    return tf.reduce_mean(tf.square(q - x), axis=axis).numpy()


@pytest.mark.parametrize("bits", [2, 4])
def test_per_tensor_range_is_the_best_candidate(bits):
    # Brute force over the same 32 candidates, one fake-quant call each.
    x = np.random.default_rng(0).standard_normal(5000).astype("float32")
    lo, hi = mse_range(x, num_bits=bits, per_axis=False, symmetric=True, narrow_range=True)
    m = np.abs(x).max()
    errors = [_error(x, -k / 32 * m, k / 32 * m, bits, True) for k in range(1, 33)]
    best = (int(np.argmin(errors)) + 1) / 32 * m
    np.testing.assert_allclose([float(lo), float(hi)], [-best, best], rtol=1e-6)
    # A Gaussian's best 2-bit clip is well inside its max (~1.2 sigma of ~3.9).
    assert float(hi) < 0.7 * m
    assert min(errors) < errors[-1]  # beats min/max


def test_per_axis_ranges_pick_per_channel():
    rng = np.random.default_rng(1)
    # Channel 0 is Gaussian (clipped best), channel 1 is two-valued (max best).
    x = np.stack([rng.standard_normal(4000), rng.choice([-1.0, 1.0], 4000)], -1).astype("float32")
    lo, hi = mse_range(x, num_bits=2, per_axis=True, symmetric=True, narrow_range=True)
    assert lo.shape == hi.shape == (2,)
    assert float(hi[0]) < 0.7 * np.abs(x[:, 0]).max()
    assert float(hi[1]) == pytest.approx(1.0)
    np.testing.assert_array_equal(lo.numpy(), -hi.numpy())


def test_per_axis_kernel_ranges_are_each_channels_best_candidate():
    # A conv kernel with many output channels (the shape whose search was
    # once tiled into 32 x 64 channels): brute force per channel, eagerly.
    w = np.random.default_rng(3).standard_t(3, size=(3, 3, 8, 64)).astype("float32")
    lo, hi = mse_range(w, num_bits=2, per_axis=True, symmetric=True, narrow_range=True)
    m = np.abs(w.reshape(-1, 64)).max(axis=0)
    errors = np.stack(
        [_error(w, -k / 32 * m, k / 32 * m, 2, True) for k in range(1, 33)]
    )  # [candidates, channels]
    best = (np.argmin(errors, axis=0) + 1) / 32 * m
    np.testing.assert_allclose(hi.numpy(), best, rtol=1e-6)
    np.testing.assert_array_equal(lo.numpy(), -hi.numpy())


def test_search_is_traced_once_per_set_of_flags():
    from ghnq_tf.quant.mse_ranges import _traced_search

    flags = {"num_bits": 3, "per_axis": False, "symmetric": False, "narrow_range": False}
    search = _traced_search(3, False, False, False, 32)
    before = search.experimental_get_tracing_count()
    for shape in [(7,), (4, 5, 6), (2, 3, 3, 9)]:
        mse_range(np.ones(shape, "float32"), **flags)
    assert search.experimental_get_tracing_count() - before <= 1


def test_asymmetric_ranges_keep_zero_inside():
    x = np.abs(np.random.default_rng(2).standard_normal(3000)).astype("float32")  # ReLU-like
    lo, hi = mse_range(x, num_bits=2, per_axis=False, symmetric=False, narrow_range=False)
    assert float(lo) == 0.0 and 0.0 < float(hi) < x.max()


def test_calibrated_weight_error_is_not_above_minmax(model, images):
    errors = {}
    for ranges in ("minmax", "mse"):
        qmodel = quantize(model, bits=2)
        calibrate(qmodel, images, steps=1, batch_size=32, ranges=ranges)
        errors[ranges] = {
            (site.layer.name, site.index): _error(
                site.weight.numpy(),
                site.variables[0]["min_var"].numpy(),
                site.variables[0]["max_var"].numpy(),
                2,
                site.quantizer.narrow_range,
            ).sum()
            for site in quantizer_sites(qmodel)
            if site.kind == "weight"
        }
    assert errors["mse"].keys() == errors["minmax"].keys() and errors["mse"]
    for key, error in errors["mse"].items():
        assert error <= errors["minmax"][key] * (1 + 1e-6), key
    assert sum(errors["mse"].values()) < 0.8 * sum(errors["minmax"].values())


def test_mse_calibration_brings_2bit_outputs_closer_to_float(model, images):
    # Golden behaviour from the CIFAR-10 measurement (module docstring), in
    # miniature: the least-squares ranges track the float logits better.
    reference = model(images, training=False).numpy()
    gaps = {}
    for ranges in ("minmax", "mse"):
        qmodel = quantize(model, bits=2)
        calibrate(qmodel, images, steps=4, batch_size=32, ranges=ranges)
        gaps[ranges] = float(np.mean((qmodel(images, training=False).numpy() - reference) ** 2))
    assert gaps["mse"] < gaps["minmax"]


def test_quantizer_config_and_errors():
    q = MSERangeQuantizer(num_bits=3, per_axis=False, symmetric=False, narrow_range=False)
    assert q.get_config()["num_candidates"] == 32 and q.get_config()["num_bits"] == 3
    assert MSERangeQuantizer.from_config(q.get_config()).get_config() == q.get_config()
    assert check_ranges("mse") == "mse"
    with pytest.raises(ValueError, match="Received: ranges='l2'"):
        check_ranges("l2")
