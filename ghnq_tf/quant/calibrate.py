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

Example:
    >>> qmodel = gq.quantize(model, bits=4)
    >>> gq.calibrate(qmodel, x_unlabeled[:512], steps=8)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ghnq_tf._keras import check_tf_keras_model, keras, tf
from ghnq_tf.quant.batches import check_steps, iter_batches
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
def _attributes(changes: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Sets obj.attr = value for each change within the block, then restores."""
    old = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in changes]
    try:
        for obj, attr, value in changes:
            setattr(obj, attr, value)
        yield
    finally:
        for obj, attr, value in reversed(old):
            setattr(obj, attr, value)


def _run(qmodel: keras.Model, batches: Any, after_batch: Any) -> int:
    # No autograph: Keras and tfmot branch with smart_cond (as in `Calibrator`).
    forward = tf.function(
        lambda x: qmodel(x, training=True), reduce_retracing=True, autograph=False
    )
    count = 0
    for x in batches():
        forward(tf.constant(x))
        after_batch(len(x))
        count += 1
    return count


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
        >>> gq.calibrate(qmodel, tf.data.Dataset.from_tensor_slices(x).batch(64), steps=8)
    """
    qmodel = check_tf_keras_model(qmodel, arg_name="qmodel")
    check_quantized_model(qmodel)
    steps = check_steps(steps)
    ranges = check_ranges(ranges)
    rank = len(qmodel.inputs[0].shape)

    def batches() -> Iterator[np.ndarray]:
        return iter_batches(data, batch_size=batch_size, steps=steps, image_rank=rank)

    if next(iter(batches()), None) is None:
        raise ValueError("`data` yielded no batch: calibration needs at least one.")

    inner = _inner_layers(qmodel)
    bns = [layer for layer in inner if isinstance(layer, L.BatchNormalization)]
    no_noise = [(layer, "rate", 0.0) for layer in inner if isinstance(layer, _DROPOUTS)]
    no_noise += [(layer, "stddev", 0.0) for layer in inner if isinstance(layer, L.GaussianNoise)]
    sites = quantizer_sites(qmodel)
    act_sites = [s for s in sites if s.kind in (INPUT, ACTIVATION, OUTPUT)]

    with _attributes(no_noise), calibration_quantizers(sites, ranges):
        if bns:
            _calibrate_batch_norm(qmodel, bns, batches)
        _calibrate_ranges(qmodel, bns, act_sites, batches)
    return qmodel


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
    """The attribute changes (for `_attributes`) under which BN stores batch statistics."""
    return [(bn, "momentum", 0.0) for bn in bns] + [(bn, "trainable", True) for bn in bns]


def _calibrate_batch_norm(qmodel: keras.Model, bns: list[Any], batches: Any) -> None:
    with _attributes(batch_norm_momentum_zero(bns)):
        pool_batch_norm(bns, lambda after_batch: _run(qmodel, batches, after_batch))


def _calibrate_ranges(qmodel: keras.Model, bns: list[Any], sites: list[Any], batches: Any) -> None:
    average_ranges(bns, sites, lambda after_batch: _run(qmodel, batches, after_batch))


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

    with _attributes([(bn, "trainable", False) for bn in bns]):
        run(accumulate)
    for (sum_min, sum_max), v in zip(sums, qvars, strict=True):
        v["min_var"].assign(np.asarray(sum_min / total[0], np.float32))
        v["max_var"].assign(np.asarray(sum_max / total[0], np.float32))
