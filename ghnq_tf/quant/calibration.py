"""`calibrate`: set BN statistics and activation ranges from unlabeled batches.

Two passes over the same batches, with no gradient step, so no trainable
variable changes (kernels, biases, gamma, beta stay bit-identical):

1. **BatchNorm statistics.** Every BatchNormalization runs in training mode
   with momentum 0, so after each batch its moving mean/variance hold that
   batch's statistics; they are pooled exactly over all batches (mean of the
   means; mean of the variances plus the variance of the means) and written
   back. Activations are fake-quantized during this pass with ranges from the
   current batch.
2. **Activation ranges.** BatchNormalization is frozen (inference mode, using
   the statistics of pass 1) and every activation quantizer sets a range from
   its input on each batch; the range kept is the mean of the per-batch
   ranges, with no trace of the initial ±6 range. With ``ranges="mse"`` (the
   default) each batch's range is the least-squares one of 32 candidates
   (`ghnq_tf.quant.mse_ranges`); with ``ranges="minmax"`` it is the batch's
   min/max (tfmot's `LastValueQuantizer` on the same variables), and the mean
   is the value tfmot's moving-average quantizer (decay 0.999) converges to.

Weight-quantizer ranges are refreshed from the current weights (least-squares
or min/max, as ``ranges`` says), which is what a model whose weights were just
injected by the GHN needs. Dropout-like layers are disabled for both passes.

`Calibrator(qmodel)` is the same calibration with its traced forward passes
kept across calls: calibrating the same network again with other weights (the
GHN's, random ones, ...) re-runs the traced passes instead of re-tracing them,
and it re-traces by itself after a `retarget` changes the bits. `calibrate` is
``Calibrator(qmodel).calibrate(...)``. `Calibrator(qmodel, traced=False)`
runs both passes eagerly: a trace costs several eager passes (a 200-layer
network: about 8 s to trace and run once, against about 1.3 s per eager
batch), so a calibration on one or two large batches is cheaper untraced.

Example:
    qmodel = gq.quantize(model, bits=4)
    gq.calibrate(qmodel, x_unlabeled[:512], steps=8)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ghnq_tf._keras import check_tf_keras_model, keras, tf
from ghnq_tf.data.batches import check_steps, iter_batches
from ghnq_tf.quant.mse_ranges import calibration_quantizers, check_ranges
from ghnq_tf.quant.sites import (
    ACTIVATION,
    INPUT,
    OUTPUT,
    QuantizeWrapper,
    check_quantized_model,
    quantizer_sites,
)

L = keras.layers
_DROPOUTS = (L.Dropout, L.GaussianDropout, L.AlphaDropout)


def _inner_layers(qmodel: keras.Model) -> list[Any]:
    return [layer.layer if isinstance(layer, QuantizeWrapper) else layer for layer in qmodel.layers]


@contextlib.contextmanager
def patched_attributes(changes: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Sets obj.attr = value for each change within the block, then restores."""
    old = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in changes]
    try:
        for obj, attr, value in changes:
            setattr(obj, attr, value)
        yield
    finally:
        for obj, attr, value in reversed(old):
            setattr(obj, attr, value)


def calibrate(
    qmodel: keras.Model,
    data: Any,
    *,
    steps: int | None = None,
    batch_size: int = 32,
    ranges: str = "mse",
) -> keras.Model:
    """Sets BN moving statistics and activation ranges of `qmodel` in place.

    Args:
        qmodel: a quantize-aware model from `quantize`.
        data: unlabeled calibration images: a `tf.data.Dataset` of images or
            (images, labels) (batched or not), a NumPy array, or an
            (images, labels) tuple of arrays.
        steps: number of batches to use (None: all of `data`).
        batch_size: batch size for arrays and unbatched datasets.
        ranges: `"mse"` (default): each quantizer's range is the one of 32
            candidates ``k/32 * [min, max]`` with the least squared
            quantization error (per batch for activations, averaged; per
            channel for per-axis weights), see `ghnq_tf.quant.mse_ranges`.
            `"minmax"`: tfmot's min/max ranges (the mean of the per-batch
            min/max for activations, the weights' min/max).

    Returns:
        `qmodel` itself (calibrated in place), for chaining.

    Raises:
        ValueError: when `qmodel` is not quantize-aware or `data` is empty.
        TypeError: for a Keras 3 model or an unsupported `data` type.

    Example:
        gq.calibrate(qmodel, tf.data.Dataset.from_tensor_slices(x).batch(64), steps=8)
    """
    return Calibrator(qmodel).calibrate(data, steps=steps, batch_size=batch_size, ranges=ranges)


def pool_batch_norm(bns: list[Any], run: Callable[[Callable[[int], None]], None]) -> None:
    """Sets each BN layer's moving statistics to its statistics pooled over batches.

    `run(after_batch)` must run the model in training mode over the
    calibration batches with every BN's momentum at 0 (so after a batch its
    moving statistics are that batch's) and call `after_batch(n)` after each
    batch of `n` images. The pooled mean is the size-weighted mean of the
    batch means; the pooled variance is that of all images together.
    """
    sums = [[0.0, 0.0] for _ in bns]  # per BN: sum n*mean, sum n*(var + mean^2)
    total = [0]

    def accumulate(n: int) -> None:
        total[0] += n
        for acc, bn in zip(sums, bns, strict=True):
            mean = bn.moving_mean.numpy().astype(np.float64)
            var = bn.moving_variance.numpy().astype(np.float64)
            acc[0] = acc[0] + n * mean
            acc[1] = acc[1] + n * (var + mean * mean)

    run(accumulate)
    for (sum_mean, sum_sq), bn in zip(sums, bns, strict=True):
        mean = sum_mean / total[0]
        var = np.maximum(sum_sq / total[0] - mean * mean, 0.0)
        bn.moving_mean.assign(mean.astype(np.float32))
        bn.moving_variance.assign(var.astype(np.float32))


def batch_norm_momentum_zero(bns: list[Any]) -> list[tuple[Any, str, Any]]:
    """The attribute changes (for `patched_attributes`) under which BN stores batch statistics."""
    return [(bn, "momentum", 0.0) for bn in bns] + [(bn, "trainable", True) for bn in bns]


def average_ranges(
    bns: list[Any], sites: list[Any], run: Callable[[Callable[[int], None]], None]
) -> None:
    """Sets the activation ranges of `sites` to their mean over the batches `run` passes.

    `run(after_batch)` runs the forward passes (batch norms frozen here) and
    calls `after_batch(n)` after each; every batch's min/max is accumulated in
    float64 and the means are assigned at the end.
    """
    qvars = [v for site in sites for v in site.variables]
    sums = [[0.0, 0.0] for _ in qvars]
    total = [0]

    def accumulate(n: int) -> None:
        total[0] += 1
        for acc, v in zip(sums, qvars, strict=True):
            acc[0] += v["min_var"].numpy().astype(np.float64)
            acc[1] += v["max_var"].numpy().astype(np.float64)

    with patched_attributes([(bn, "trainable", False) for bn in bns]):
        run(accumulate)
    for (sum_min, sum_max), v in zip(sums, qvars, strict=True):
        v["min_var"].assign(np.asarray(sum_min / total[0], np.float32))
        v["max_var"].assign(np.asarray(sum_max / total[0], np.float32))


class Calibrator:
    """`gq.calibrate` for one model, called many times without re-tracing.

    Both passes (BN statistics, then activation ranges) run a traced forward
    pass whose graph depends on the model's structure and bits, never on its
    weights; `Calibrator` keeps them while the bits stay the same.
    `gq.calibrate(qmodel, data, ...)` is ``Calibrator(qmodel).calibrate(data,
    ...)``, so repeated calls give exactly what fresh ones give (tested).

    Args:
        qmodel: a quantize-aware model from `gq.quantize`.
        traced: run the passes as traced `tf.function`s (kept across calls),
            or eagerly (`False`: no tracing cost, more per batch; for
            one-off calibrations on one or two large batches).

    Example:
        calibrator = Calibrator(qmodel)
        for params in (ghn_params, random_params):
            inject(targets, params)
            calibrator.calibrate(x_unlabeled, steps=8)   # traced once
    """

    def __init__(self, qmodel: keras.Model, *, traced: bool = True) -> None:
        if not isinstance(traced, bool):
            raise TypeError(f"`traced` must be a bool. Received: traced={traced!r}")
        self.qmodel = check_tf_keras_model(qmodel, arg_name="qmodel")
        self.traced = traced
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
        bits = tuple(site.num_bits for site in self._sites)  # `retarget` changes them in place
        if bits != self._bits:
            self._passes, self._bits = {}, bits
        if not self.traced:
            qmodel = self.qmodel
            return lambda x: qmodel(x, training=True)
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
        """Calibrates the model in place (see `gq.calibrate` for the arguments).

        Args:
            data: unlabeled images, as `gq.calibrate` takes them.
            steps: number of batches (None: all of `data`).
            batch_size: batch size for arrays and unbatched datasets.
            ranges: `"mse"` or `"minmax"`, as `gq.calibrate` takes it.

        Returns:
            The calibrated model.

        Raises:
            ValueError: when `data` is empty or `steps`/`ranges` are invalid.

        Example:
            Calibrator(qmodel).calibrate(x_unlabeled[:512], steps=8)
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
        with patched_attributes(self._no_noise), calibration_quantizers(self._sites, self._ranges):
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
        with patched_attributes(batch_norm_momentum_zero(self._bns)):
            pool_batch_norm(
                self._bns, lambda after_batch: self._run("batch_norm", batches, after_batch)
            )

    def _range_pass(self, batches: Any) -> None:
        average_ranges(
            self._bns,
            self._act_sites,
            lambda after_batch: self._run("ranges", batches, after_batch),
        )
