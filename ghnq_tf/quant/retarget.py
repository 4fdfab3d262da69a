"""Reuse one quantize-aware model across bitwidths and parameter sets.

tfmot's `quantize_apply` (behind `gq.quantize`) clones the model several times
and costs seconds per network; its result depends on the bits only through
the `num_bits` of the quantizer objects (and of the configs that made them).
`retarget(qmodel, bits=b)` rewrites those in place, so one wrapped model
serves every bitwidth: after `gq.calibrate` on the same data it computes
exactly what `gq.quantize(model, bits=b)` followed by the same calibration
computes (tested). `Calibrator` (`ghnq_tf.quant.calibration`) re-traces its
passes by itself after a `retarget`.

Example:
    from ghnq_tf.quant.calibration import Calibrator
    qmodel = gq.quantize(model, bits=8)
    calibrator = Calibrator(qmodel)
    for b in (8, 4, 2):
        retarget(qmodel, bits=b)
        calibrator.calibrate(x_unlabeled, steps=8)
        print(b, qmodel.evaluate(x_test, y_test))
"""

from __future__ import annotations

from typing import Any

from ghnq_tf._compat.tfmot import ACTIVATION_BITS_ATTRS, WEIGHT_BITS_ATTRS
from ghnq_tf._keras import check_tf_keras_model, keras
from ghnq_tf.quant.bits import bits_error, parse_bits
from ghnq_tf.quant.sites import (
    WEIGHT,
    QuantizeWrapper,
    check_quantized_model,
    quantizer_sites,
)

_WEIGHT_ATTRS = WEIGHT_BITS_ATTRS
_ACTIVATION_ATTRS = ACTIVATION_BITS_ATTRS


def _set_bits(obj: Any, w: int, a: int) -> None:
    """Sets the weight/activation bit attributes `obj` has (tfmot's or ours)."""
    for attr in _WEIGHT_ATTRS:
        if hasattr(obj, attr):
            setattr(obj, attr, w)
    for attr in _ACTIVATION_ATTRS:
        if hasattr(obj, attr):
            setattr(obj, attr, a)


def _retarget_config(config: Any, w: int, a: int) -> None:
    if config is None:
        return
    _set_bits(config, w, a)
    for attr, bits in (("weight_quantizer", w), ("activation_quantizer", a)):
        quantizer = getattr(config, attr, None)
        if quantizer is not None and hasattr(quantizer, "num_bits"):
            quantizer.num_bits = bits
            _set_bits(quantizer, w, a)


def model_bits(qmodel: keras.Model) -> tuple[int, ...]:
    """The `num_bits` of every quantizer site of `qmodel`, in site order."""
    return tuple(site.num_bits for site in quantizer_sites(qmodel))


def retarget(qmodel: keras.Model, *, bits: Any) -> keras.Model:
    """Changes every quantizer of `qmodel` to `bits`, in place.

    The variables (weights, BN statistics, quantizer ranges) are left as they
    are: calibrate afterwards (`gq.calibrate` or `Calibrator`), as after
    `gq.quantize`. Keras' cached `predict`/`evaluate`/`fit` functions are
    dropped; `tf.function`s of your own that call `qmodel` must be traced
    again (they froze the old bits).

    Args:
        qmodel: a quantize-aware model from `gq.quantize` (any bits).
        bits: an int in 2..8 (W*b*A*b*) or a (weight_bits, activation_bits)
            pair, applied to every layer — the model then equals
            `gq.quantize(model, bits=bits)`. Per-layer policies are not
            supported here.

    Returns:
        `qmodel` itself, for chaining.

    Raises:
        ValueError: for invalid `bits`, a per-layer policy, or a model that is
            not quantize-aware.

    Example:
        qmodel = gq.quantize(model, bits=8)
        retarget(qmodel, bits=4)            # now W4A4, no second tfmot wrap
        gq.calibrate(qmodel, x_unlabeled, steps=8)
    """
    qmodel = check_tf_keras_model(qmodel, arg_name="qmodel")
    check_quantized_model(qmodel)
    if isinstance(bits, dict):
        raise bits_error(bits, "retarget takes one int or (w, a) pair for every layer")
    w, a = parse_bits(bits).default
    for layer in qmodel.layers:
        if isinstance(layer, QuantizeWrapper):
            _retarget_config(getattr(layer, "quantize_config", None), w, a)
    for site in quantizer_sites(qmodel):
        site.quantizer.num_bits = w if site.kind == WEIGHT else a
        _set_bits(site.quantizer, w, a)
    for attr in ("predict_function", "test_function", "train_function"):
        if hasattr(qmodel, attr):
            setattr(qmodel, attr, None)
    return qmodel
