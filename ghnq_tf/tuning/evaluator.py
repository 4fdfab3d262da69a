"""Scores per-layer bit policies of one model fast: quantize and trace once.

Scoring a candidate policy the plain way (`gq.quantize(model, bits=policy)`,
inject the GHN's parameters, `gq.calibrate`, evaluate) costs a tfmot
quantize-wrap (5–20 s here) and two fresh traces per candidate. A
`PolicyEvaluator` does that work once per model:

* the model is quantized once; every quantizer whose bits depend on a
  searched layer is replaced by a `SwitchQuantizer`, which runs tfmot's own
  quantizer at 2, 4 or 8 bits as an integer variable says (`tf.switch_case`
  over copies that differ only in `num_bits`), so the numerics are tfmot's;
* the GHN predicts the graph once per bitwidth; a candidate's parameters are
  picked per layer (`ghnq_tf.prediction.mixed`);
* the two calibration passes of `gq.calibrate` (pooled BatchNorm statistics,
  then mean per-batch activation ranges, same batches) and the evaluation
  are traced once and reused.

A candidate then costs three forward passes over a few small batches. A test
checks the result against the plain way (`gq.predict(model, bits=policy)`).

Example:
    ev = PolicyEvaluator(model, ghn=ghn, images=x, labels=y)
    ev.evaluate({key: 4 for key in ev.layers})["accuracy"]
"""

from __future__ import annotations

import contextlib
import copy
import functools
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_model_optimization as tfmot

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.from_keras import graph_from_keras
from ghnq_tf.prediction.mixed import (
    param_bits,
    predictions_by_bits,
    stack_predictions,
    weight_counts,
)
from ghnq_tf.quant.bits import parse_bits
from ghnq_tf.quant.calibration import batch_norm_momentum_zero, patched_attributes, pool_batch_norm
from ghnq_tf.quant.canonical import make_plan
from ghnq_tf.quant.quantize_model import quantize
from ghnq_tf.quant.sites import INPUT, WEIGHT, QuantizerSite, QuantizeWrapper, quantizer_sites
from ghnq_tf.quant.variables import target_list

L = keras.layers
_LastValueQuantizer = tfmot.quantization.keras.quantizers.LastValueQuantizer
_DROPOUTS = (L.Dropout, L.GaussianDropout, L.AlphaDropout)


class SwitchQuantizer:
    """Runs one of several tfmot quantizers, chosen at run time by `index`.

    Args:
        quantizers: one quantizer per choice (same variables, different bits).
        index: an int32 `tf.Variable` selecting the quantizer.
    """

    def __init__(self, quantizers: Sequence[Any], index: tf.Variable) -> None:
        self.quantizers = list(quantizers)
        self.index = index
        self.num_bits = max(int(q.num_bits) for q in self.quantizers)

    def __call__(self, inputs: Any, training: Any, weights: Any, **kwargs: Any) -> tf.Tensor:
        branches = [
            functools.partial(q, inputs, training, weights, **kwargs) for q in self.quantizers
        ]
        return tf.switch_case(tf.convert_to_tensor(self.index), branches)


def _with_bits(quantizer: Any, bits: int) -> Any:
    clone = copy.copy(quantizer)
    clone.num_bits = int(bits)
    return clone


def _last_value(quantizer: Any, bits: int) -> Any:
    return _LastValueQuantizer(
        num_bits=int(bits),
        per_axis=quantizer.per_axis,
        symmetric=quantizer.symmetric,
        narrow_range=quantizer.narrow_range,
    )


@contextlib.contextmanager
def _quantizers(sites: list[QuantizerSite], replacements: list[Any]) -> Iterator[None]:
    try:
        for site, quantizer in zip(sites, replacements, strict=True):
            site.set(quantizer)
        yield
    finally:
        for site in sites:
            site.set(site.quantizer)


class PolicyEvaluator:
    """Top-1 of GHN-predicted, calibrated parameters under per-layer bit policies.

    Args:
        model: a built `tf_keras` model.
        ghn: a `gq.GHN`.
        images: scoring images (NumPy, NHWC).
        labels: their integer labels.
        calibration_batches: unlabeled image batches for calibration
            (default: `images` in batches of `batch_size`).
        choices: the weight bitwidths a searched layer may take.
        reference_bits: weight bits of layers without a policy entry, and of
            the other activations (the uniform baseline, W4A4 by default).
        max_activation_bits: bound on activation bits: a layer at `w` bits
            gets `min(w, max_activation_bits)`-bit activations (None: `w`).
        batch_size: batch size of the evaluation passes.
        graph: the model's `ArchGraph`, if already made.

    Example:
        ev = PolicyEvaluator(model, ghn=ghn, images=x, labels=y)
        ev.evaluate(ev.uniform(4))
    """

    def __init__(
        self,
        model: keras.Model,
        *,
        ghn: Any,
        images: np.ndarray,
        labels: np.ndarray,
        calibration_batches: Sequence[np.ndarray] | None = None,
        choices: Sequence[int] = (2, 4, 8),
        reference_bits: int = 4,
        max_activation_bits: int | None = None,
        batch_size: int = 32,
        graph: Any = None,
    ) -> None:
        start = time.perf_counter()
        self.model = model
        self.choices = tuple(sorted(set(int(c) for c in choices)))
        self.reference_bits = int(reference_bits)
        self.max_activation_bits = max_activation_bits
        self.images = np.asarray(images, np.float32)
        self.labels = np.asarray(labels).reshape(-1).astype(np.int64)
        self.batch_size = batch_size
        if calibration_batches is None:
            calibration_batches = [
                self.images[i : i + batch_size] for i in range(0, len(self.images), batch_size)
            ]
        self.calibration_batches = [np.asarray(b, np.float32) for b in calibration_batches]
        self.graph = graph_from_keras(model) if graph is None else graph
        self.weight_counts = weight_counts(self.graph)
        self.layers = list(self.weight_counts)
        widths = sorted(set(self.choices) | {self.reference_bits})
        (self._per_bits,) = predictions_by_bits(ghn, [self.graph], [widths])
        top = {key: self.choices[-1] for key in self.layers}
        self.qmodel = quantize(model, bits=self.policy(top))
        self._targets = target_list(self.qmodel, model, self.graph)
        self._index = {
            key: tf.Variable(0, dtype=tf.int32, trainable=False, name="bits_choice")
            for key in self.layers
        }
        self._setup_sites(top)
        self._trace()
        self.setup_seconds = time.perf_counter() - start
        self.candidates = 0
        self.candidate_times: list[float] = []  # seconds of each `evaluate`

    # ------------------------------------------------------------- policies
    def activation_bits(self, bits: int) -> int:
        """Activation bits of a layer whose weights have `bits` bits."""
        if self.max_activation_bits is None:
            return bits
        return min(bits, self.max_activation_bits)

    def policy(self, assignment: Mapping[str, int]) -> dict[str, Any]:
        """The `gq.quantize` policy of a {layer key: weight bits} assignment."""
        ref = self.reference_bits
        policy: dict[str, Any] = {"default": (ref, self.activation_bits(ref))}
        for key in self.layers:
            bits = int(assignment.get(key, ref))
            policy[key] = (bits, self.activation_bits(bits))
        return policy

    def uniform(self, bits: int) -> dict[str, int]:
        """The assignment giving every searched layer `bits` bits."""
        return {key: bits for key in self.layers}

    # ---------------------------------------------------------------- setup
    def _setup_sites(self, top: Mapping[str, int]) -> None:
        """Gives each site a quantizer per choice; checks the bits tfmot gave."""
        owner = {name: key for key, names in make_plan(self.model).layers.items() for name in names}
        default = parse_bits(self.policy({})).default
        self._sites = quantizer_sites(self.qmodel)
        self._eval_quantizers, self._calib_quantizers = [], []
        for site in self._sites:
            key = None
            if isinstance(site.layer, QuantizeWrapper):
                key = owner.get(site.layer.layer.name)
            slot = 0 if site.kind == WEIGHT else 1
            if site.kind == INPUT or key not in self._index:
                per_choice = [default[slot]]
            else:
                per_choice = [
                    (c, self.activation_bits(c))[slot] for c in self.choices
                ]  # bits of this site for each choice of its layer
            expected = per_choice[-1]
            if site.num_bits != expected:
                raise RuntimeError(
                    f"Quantizer {site.kind!r} of layer {site.layer.name!r} has "
                    f"{site.num_bits} bits where the policy {dict(top)} gives {expected}; "
                    "the bit search cannot switch this model's quantizers."
                )
            calibrating = site.kind != WEIGHT
            for target, make in (
                (self._eval_quantizers, _with_bits),
                (self._calib_quantizers, _last_value if calibrating else _with_bits),
            ):
                options = [make(site.quantizer, b) for b in per_choice]
                if len(set(per_choice)) == 1:
                    target.append(options[0])
                else:
                    target.append(SwitchQuantizer(options, self._index[key]))

    def _trace(self) -> None:
        inner = [
            layer.layer if isinstance(layer, QuantizeWrapper) else layer
            for layer in self.qmodel.layers
        ]
        self._bns = [layer for layer in inner if isinstance(layer, L.BatchNormalization)]
        no_noise = [(layer, "rate", 0.0) for layer in inner if isinstance(layer, _DROPOUTS)]
        no_noise += [
            (layer, "stddev", 0.0) for layer in inner if isinstance(layer, L.GaussianNoise)
        ]
        self._range_vars = [
            v
            for site in self._sites
            if site.kind != WEIGHT
            for v in site.variables  # same order as gq.calibrate
        ]
        spec = [tf.TensorSpec([None, *self.images.shape[1:]], tf.float32)]
        qmodel, bns, ranges = self.qmodel, self._bns, self._range_vars

        def bn_pass(x: tf.Tensor) -> list[tf.Tensor]:
            qmodel(x, training=True)
            return [t for bn in bns for t in (bn.moving_mean, bn.moving_variance)]

        def range_pass(x: tf.Tensor) -> list[tf.Tensor]:
            qmodel(x, training=True)
            return [t for v in ranges for t in (v["min_var"], v["max_var"])]

        def forward(x: tf.Tensor) -> tf.Tensor:
            return qmodel(x, training=False)

        with patched_attributes(no_noise), _quantizers(self._sites, self._calib_quantizers):
            with patched_attributes(batch_norm_momentum_zero(bns)):
                self._bn_pass = tf.function(bn_pass, input_signature=spec)
                self._bn_pass.get_concrete_function()
            with patched_attributes([(bn, "trainable", False) for bn in bns]):
                self._range_pass = tf.function(range_pass, input_signature=spec)
                self._range_pass.get_concrete_function()
        with _quantizers(self._sites, self._eval_quantizers):
            self._forward = tf.function(forward, input_signature=spec)
            self._forward.get_concrete_function()

    # ----------------------------------------------------------- evaluation
    def _set(self, assignment: Mapping[str, int]) -> dict[str, Any]:
        policy = self.policy(assignment)
        for key in self.layers:
            self._index[key].assign(self.choices.index(policy[key][0]))
        bits = param_bits(self.graph, parse_bits(policy))
        for var, value in zip(self._targets, stack_predictions(self._per_bits, bits), strict=True):
            var.assign(value)
        return policy

    def _calibrate(self) -> None:
        batches = self.calibration_batches
        if self._bns:
            # The traced pass has BN momentum 0 baked in: after each batch the
            # moving statistics hold that batch's, which pool_batch_norm reads.
            def run(after_batch: Any) -> None:
                for x in batches:
                    self._bn_pass(tf.constant(x))
                    after_batch(len(x))

            pool_batch_norm(self._bns, run)
        sums2 = [[0.0, 0.0] for _ in self._range_vars]
        for x in batches:
            values = self._range_pass(tf.constant(x))
            for i, acc in enumerate(sums2):
                acc[0] += values[2 * i].numpy().astype(np.float64)
                acc[1] += values[2 * i + 1].numpy().astype(np.float64)
        count = len(batches)
        for (sum_min, sum_max), v in zip(sums2, self._range_vars, strict=True):
            v["min_var"].assign(np.asarray(sum_min / count, np.float32))
            v["max_var"].assign(np.asarray(sum_max / count, np.float32))

    def outputs(self, assignment: Mapping[str, int]) -> np.ndarray:
        """The calibrated quantized model's outputs on the scoring images."""
        self._set(assignment)
        self._calibrate()
        size = self.batch_size
        parts = [
            self._forward(tf.constant(self.images[i : i + size])).numpy()
            for i in range(0, len(self.images), size)
        ]
        return np.concatenate(parts)

    def evaluate(self, assignment: Mapping[str, int]) -> dict[str, float]:
        """Top-1 accuracy and weight memory of `assignment` ({layer key: bits})."""
        start = time.perf_counter()
        outputs = self.outputs(assignment)
        accuracy = float(np.mean(np.argmax(outputs, axis=-1) == self.labels))
        seconds = time.perf_counter() - start
        self.candidates += 1
        self.candidate_times.append(seconds)
        return {
            "accuracy": accuracy,
            "weight_bits": float(self.weight_bits(assignment)),
            "seconds": seconds,
        }

    def weight_bits(self, assignment: Mapping[str, int]) -> int:
        """Σ kernel weights × bits of `assignment` (missing layers at the reference bits)."""
        return sum(
            count * int(assignment.get(key, self.reference_bits))
            for key, count in self.weight_counts.items()
        )
