"""Reuse one quantize-aware model across bitwidths and parameter sets.

tfmot's `quantize_apply` (behind `gq.quantize`) clones the model several times
and costs seconds per network; its result depends on the bits only through
the `num_bits` of the quantizer objects (and of the configs that made them).
`retarget(qmodel, bits=b)` rewrites those in place, so one wrapped model
serves every bitwidth: after `gq.calibrate` on the same data it computes
exactly what `gq.quantize(model, bits=b)` followed by the same calibration
computes (tested).

`Calibrator(qmodel)` is `gq.calibrate` with its traced forward passes kept
across calls: calibrating the same network again with other weights (the
GHN's, random ones, ...) re-runs the traced passes instead of re-tracing
them. It gives bit-identical results to `gq.calibrate` (tested) and re-traces
by itself after a `retarget`.

Example:
    >>> qmodel = gq.quantize(model, bits=8)
    >>> calibrator = Calibrator(qmodel)
    >>> for b in (8, 4, 2):
    ...     retarget(qmodel, bits=b)
    ...     calibrator.calibrate(x_unlabeled, steps=8)
    ...     print(b, qmodel.evaluate(x_test, y_test))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ghnq_tf._keras import check_tf_keras_model, keras, tf
from ghnq_tf.quant.batches import check_steps, iter_batches
from ghnq_tf.quant.bits import bits_error, parse_bits
from ghnq_tf.quant.calibrate import (
    _DROPOUTS,
    _attributes,
    _inner_layers,
    average_ranges,
    batch_norm_momentum_zero,
    pool_batch_norm,
)
from ghnq_tf.quant.mse_ranges import calibration_quantizers, check_ranges
from ghnq_tf.quant.sites import (
    ACTIVATION,
    INPUT,
    OUTPUT,
    WEIGHT,
    QuantizeWrapper,
    check_quantized_model,
    quantizer_sites,
)

L = keras.layers
_WEIGHT_ATTRS = ("_num_bits_weight", "num_bits_weight")
_ACTIVATION_ATTRS = ("_num_bits_activation", "num_bits_activation")


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
        >>> qmodel = gq.quantize(model, bits=8)
        >>> retarget(qmodel, bits=4)            # now W4A4, no second tfmot wrap
        >>> gq.calibrate(qmodel, x_unlabeled, steps=8)
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


class Calibrator:
    """`gq.calibrate` for one model, called many times without re-tracing.

    Both passes of `gq.calibrate` (BN statistics, then activation ranges) run
    a traced forward pass whose graph depends on the model's structure and
    bits, never on its weights; `Calibrator` keeps them while the bits stay
    the same. Each call is exactly `gq.calibrate(qmodel, data, steps=steps,
    batch_size=batch_size)`.

    Args:
        qmodel: a quantize-aware model from `gq.quantize`.

    Example:
        >>> calibrator = Calibrator(qmodel)
        >>> for params in (ghn_params, random_params):
        ...     inject(targets, params)
        ...     calibrator.calibrate(x_unlabeled, steps=8)   # traced once
    """

    def __init__(self, qmodel: keras.Model) -> None:
        self.qmodel = check_tf_keras_model(qmodel, arg_name="qmodel")
        check_quantized_model(self.qmodel)
        inner = _inner_layers(self.qmodel)
        self._bns = [layer for layer in inner if isinstance(layer, L.BatchNormalization)]
        self._no_noise = [(layer, "rate", 0.0) for layer in inner if isinstance(layer, _DROPOUTS)]
        self._no_noise += [
            (layer, "stddev", 0.0) for layer in inner if isinstance(layer, L.GaussianNoise)
        ]
        self._sites = quantizer_sites(self.qmodel)
        self._act_sites = [s for s in self._sites if s.kind in (INPUT, ACTIVATION, OUTPUT)]
        self._bits: tuple[int, ...] | None = None
        self._ranges = "mse"
        self._passes: dict[str, Callable[[tf.Tensor], Any]] = {}
        self.traces = 0  # how many pass functions were created (for tests and timing)

    def _forward(self, name: str) -> Callable[[tf.Tensor], Any]:
        bits = model_bits(self.qmodel)
        if bits != self._bits:
            self._passes, self._bits = {}, bits
        if name not in self._passes:
            qmodel = self.qmodel
            # No autograph: Keras and tfmot branch with smart_cond, and tracing
            # without it is about 40 % faster (same graph, same numbers).
            self._passes[name] = tf.function(
                lambda x: qmodel(x, training=True), reduce_retracing=True, autograph=False
            )
            self.traces += 1
        return self._passes[name]

    def calibrate(
        self,
        data: Any,
        *,
        steps: int | None = None,
        batch_size: int = 32,
        ranges: str = "mse",
    ) -> keras.Model:
        """Calibrates the model in place, as `gq.calibrate` does.

        Args:
            data: unlabeled images, as `gq.calibrate` takes them.
            steps: number of batches (None: all of `data`).
            batch_size: batch size for arrays and unbatched datasets.
            ranges: `"mse"` or `"minmax"`, as `gq.calibrate` takes it.

        Returns:
            The calibrated model.

        Example:
            >>> Calibrator(qmodel).calibrate(x_unlabeled[:512], steps=8)
        """
        steps = check_steps(steps)
        self._ranges = check_ranges(ranges)
        rank = len(self.qmodel.inputs[0].shape)

        def batches() -> Iterator[np.ndarray]:
            return iter_batches(data, batch_size=batch_size, steps=steps, image_rank=rank)

        if next(iter(batches()), None) is None:
            raise ValueError("`data` yielded no batch: calibration needs at least one.")

        # The swaps and attribute changes are entered at every call: a pass
        # that re-traces (a new batch shape) must see them, as the first did.
        with _attributes(self._no_noise), calibration_quantizers(self._sites, self._ranges):
            if self._bns:
                self._batch_norm_pass(batches)
            self._range_pass(batches)
        return self.qmodel

    def _run(self, name: str, batches: Any, after_batch: Callable[[int], None]) -> None:
        forward = self._forward(f"{name}/{self._ranges}")  # the swapped quantizers are traced
        for x in batches():
            forward(tf.constant(x))
            after_batch(len(x))

    def _batch_norm_pass(self, batches: Any) -> None:
        with _attributes(batch_norm_momentum_zero(self._bns)):
            pool_batch_norm(
                self._bns, lambda after_batch: self._run("batch_norm", batches, after_batch)
            )

    def _range_pass(self, batches: Any) -> None:
        average_ranges(
            self._bns,
            self._act_sites,
            lambda after_batch: self._run("ranges", batches, after_batch),
        )
