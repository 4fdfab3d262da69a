"""`gq.predict` / `gq.predict_many`: GHN-predicted parameters in a quantize-aware model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ghnq_tf._keras import check_tf_keras_model, keras
from ghnq_tf.graph.from_keras import graph_from_keras
from ghnq_tf.hypernet import init_scale
from ghnq_tf.hypernet.ghn import GHN
from ghnq_tf.hypernet.tiling import break_tiling, check_noise_scale
from ghnq_tf.prediction.mixed import predict_policy_params
from ghnq_tf.quant.bits import parse_bits
from ghnq_tf.quant.calibration import Calibrator
from ghnq_tf.quant.mse_ranges import check_ranges
from ghnq_tf.quant.quantize_model import quantize
from ghnq_tf.quant.variables import inject, target_list

DEFAULT_GHN = "cifar10"
# Uniform (weight, activation) pairs for which `ghn=None` means a bundled GHN that
# predicts better than `DEFAULT_GHN`: at W2A2 on the first 100 `test` networks,
# `cifar10_w2a2` scores 18.6 % against `cifar10`'s 13.7 %, ahead on 91 of them
# (docs/benchmarks.md).
DEFAULT_GHN_BY_BITS = {(2, 2): "cifar10_w2a2"}


def ghn_bits(bits: Any) -> int:
    """The bitwidth the GHN is told: the (default) weight bitwidth of `bits`."""
    return parse_bits(bits).default[0]


def default_ghn(bits: Any = 4) -> str:
    """The bundled GHN `gq.predict(model, bits=bits)` uses when `ghn` is None.

    Example:
        >>> default_ghn(4), default_ghn(2)
        ('cifar10', 'cifar10_w2a2')
    """
    spec = parse_bits(bits)
    if spec.layers:  # a mixed policy: the general GHN
        return DEFAULT_GHN
    return DEFAULT_GHN_BY_BITS.get(spec.default, DEFAULT_GHN)


def resolve_ghn(ghn: GHN | str | None, bits: Any = 4) -> GHN:
    """`ghn` as a `gq.GHN`: itself, the bundled GHN it names, or `default_ghn(bits)`."""
    if ghn is None:
        ghn = default_ghn(bits)
    if isinstance(ghn, str):
        try:
            return GHN.from_pretrained(ghn)
        except ValueError as err:
            raise ValueError(
                f"{err} Pass a trained GHN as `ghn=` (e.g. `gq.GHN.load(path)`)."
            ) from err
    if not isinstance(ghn, GHN):
        raise TypeError(f"`ghn` must be a gq.GHN, a pretrained name or None. Received: ghn={ghn!r}")
    return ghn


# Up to this many calibration batches, eager passes cost less than tracing
# them: MobileNetV2 (32x32, 8 batches of 32) calibrates in 7.8 s eagerly
# against 20.6 s traced, and tracing pays off only after about 50 batches
# (docs/benchmarks.md, "Prediction speed").
EAGER_CALIBRATION_STEPS = 32


def _traced_calibration(steps: int | None) -> bool:
    """Whether `predict` traces its calibration passes (many or unbounded batches)."""
    return steps is None or steps > EAGER_CALIBRATION_STEPS


def predict_many(
    models: Sequence[keras.Model],
    *,
    bits: Any = 4,
    ghn: GHN | str | None = None,
    calibration_data: Any = None,
    calibration_steps: int | None = 8,
    calibration_ranges: str = "mse",
    match_init_scale: bool = True,
    tiling_noise: float = 0.0,
    orthogonalize: bool = False,
    seed: int | None = None,
    timings: dict[str, float] | None = None,
) -> list[keras.Model]:
    """Predicts parameters for several models in one GHN call.

    Args:
        models: built `tf_keras` models (functional or Sequential).
        bits: as `gq.quantize`: an int in 2..8, a (weight, activation) pair or
            a {layer_name: bits} policy; each layer's parameters are predicted at
            its weight bitwidth (see `ghnq_tf.prediction.mixed`).
        ghn: a `gq.GHN`, the name of a bundled one, or None for the default:
            `"cifar10_w2a2"` for `bits=2` (W2A2), else `"cifar10"`.
        calibration_data: unlabeled images; when given, each model's BN
            statistics and activation ranges are calibrated on them.
        calibration_steps: batches of `calibration_data` to use. Up to 32
            batches run eagerly (cheaper than tracing the passes for one
            model); more, or None (all of the data), run traced.
        calibration_ranges: `"mse"` (least-squares quantizer ranges, the
            default) or `"minmax"` (tfmot's), as `gq.calibrate`'s `ranges`.
        match_init_scale: rescale every kernel whose output reaches only
            batch normalization (through bias-free linear layers) to the RMS
            of the model's own kernel (see `ghnq_tf.hypernet.init_scale`).
            The calibrated model computes the same function; fine-tuning
            then moves those kernels at the rate it moves Keras-initialized
            ones instead of several times faster.
        tiling_noise: `beta` of `ghnq_tf.hypernet.tiling.break_tiling`:
            Gaussian noise on the channel copies the decoder tiles into
            layers wider than `ghn.channels` (classifier untouched), so that
            fine-tuning can separate them. 0 (the default) adds none.
        orthogonalize: replace each tiled hidden kernel by its QR orthogonal
            factor at its own scale (after the noise).
        seed: seed of `tiling_noise` (None: a fresh one each call).
        timings: if a dict is given, seconds spent per stage are added to it
            (`graph`, `ghn`, `quantize`, `inject`, `calibrate`).

    Returns:
        New quantize-aware models holding the predicted parameters (the input
        models are left untouched).
    """
    models = [check_tf_keras_model(m, arg_name="models") for m in models]
    if not models:
        raise ValueError("`models` must hold at least one model. Received: models=[]")
    ghn_bits(bits)  # validates `bits` before any work
    check_ranges(calibration_ranges)
    check_noise_scale(tiling_noise, name="tiling_noise")
    ghn = resolve_ghn(ghn, bits)
    clock = timings if timings is not None else {}

    def lap(stage: str, start: float) -> float:
        now = time.perf_counter()
        clock[stage] = clock.get(stage, 0.0) + now - start
        return now

    start = time.perf_counter()
    graphs = [graph_from_keras(m) for m in models]
    start = lap("graph", start)
    predicted = predict_policy_params(ghn, graphs, bits)  # per-layer bits of a policy
    start = lap("ghn", start)
    results = []
    for model, graph, tensors in zip(models, graphs, predicted, strict=True):
        qmodel = quantize(model, bits=bits)
        start = lap("quantize", start)
        if match_init_scale:
            tensors = init_scale.match_init_scale(model, graph, tensors)
        if tiling_noise or orthogonalize:
            tensors = break_tiling(
                graph,
                tensors,
                channels=ghn.channels,
                beta=tiling_noise,
                orthogonalize=orthogonalize,
                seed=seed,
            )
        inject(target_list(qmodel, model, graph), tensors)
        start = lap("inject", start)
        if calibration_data is not None:
            Calibrator(qmodel, traced=_traced_calibration(calibration_steps)).calibrate(
                calibration_data, steps=calibration_steps, ranges=calibration_ranges
            )
            start = lap("calibrate", start)
        results.append(qmodel)
    return results


def predict(
    model: keras.Model,
    *,
    bits: Any = 4,
    ghn: GHN | str | None = None,
    calibration_data: Any = None,
    calibration_steps: int | None = 8,
    calibration_ranges: str = "mse",
    match_init_scale: bool = True,
    tiling_noise: float = 0.0,
    orthogonalize: bool = False,
    seed: int | None = None,
) -> keras.Model:
    """Predicts all parameters of `model` for `bits`-bit quantization.

    Example:
        model = tf_keras.applications.MobileNetV2(
            input_shape=(32, 32, 3), weights=None, classes=10)
        qmodel = gq.predict(model, bits=4, calibration_data=x_unlabeled)
        qmodel.compile(metrics=["accuracy"]); qmodel.evaluate(x_test, y_test)

    Args:
        model: a built `tf_keras` model the graph module can describe.
        bits: an int in 2..8, a (weight, activation) pair or a per-layer
            policy, as `gq.quantize` takes.
        ghn: a `gq.GHN`, a bundled name, or None for the default CIFAR-10 GHN
            (`"cifar10_w2a2"` for `bits=2`, else `"cifar10"`).
        calibration_data: unlabeled images to calibrate BN statistics and
            activation ranges on (recommended: predicted parameters come
            without BN running statistics).
        calibration_steps: batches of `calibration_data` to use. Up to 32
            batches run eagerly (cheaper than tracing the passes for one
            model); more, or None (all of the data), run traced.
        calibration_ranges: `"mse"` (default) or `"minmax"`, as
            `gq.calibrate`'s `ranges`.
        match_init_scale: rescale the kernels whose scale batch normalization
            divides out to the model's own (Keras-initialized) scale: the
            calibrated function is unchanged and `model.fit` fine-tunes them
            at the usual rate (see `predict_many`).
        tiling_noise: noise on the channel copies of layers wider than the
            GHN's maximal tensor, relative to each kernel's scale (see
            `ghnq_tf.hypernet.tiling`); 0 (default) adds none.
        orthogonalize: replace each tiled hidden kernel by its QR factor.
        seed: seed of `tiling_noise` (None: a fresh one each call).

    Returns:
        A new tfmot quantize-aware model (as `gq.quantize` makes) holding the
        predicted parameters, ready to evaluate, fine-tune or export.
    """
    return predict_many(
        [model],
        bits=bits,
        ghn=ghn,
        calibration_data=calibration_data,
        calibration_steps=calibration_steps,
        calibration_ranges=calibration_ranges,
        match_init_scale=match_init_scale,
        tiling_noise=tiling_noise,
        orthogonalize=orthogonalize,
        seed=seed,
    )[0]
