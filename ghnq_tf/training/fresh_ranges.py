"""Activation ranges without history, for training against moving weights.

tfmot's `MovingAverageQuantizer` quantizes activations in training mode with
a range kept as a moving average (decay 0.999) that starts at [-6, 6]. The
networks a GHN trains on get new weights at every step, so that history is
meaningless — and it makes a step depend on how often a cached network was
used before, which breaks exact resume and distribution. `use_fresh_ranges`
switches a model's activation (and input) quantizers to `FreshRangeQuantizer`,
which resets the range before every training call and then applies tfmot's
own `MovingAvgQuantize`:

* `mode="initial"` (GHNTrainer's default): reset to tfmot's start, [-6, 6],
  decay 0.999 — what a freshly quantized network sees in its first QAT step.
* `mode="batch"`: reset to 0, decay 0 — exactly the current batch's min/max.
* `mode="mse"`: the current batch's least-squares range
  (`ghnq_tf.quant.mse_ranges.MSERangeQuantizer`, no history either), and the
  weight quantizers get least-squares ranges of the current weights too: the
  ranges `gq.calibrate` sets by default, in the QAT loop.

Inference mode is unchanged: it reads the range variables (which `calibrate`
sets for evaluation and export).
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_optimization as tfmot

from ghnq_tf._compat.tensorflow import smart_cond
from ghnq_tf._compat.tfmot import MovingAvgQuantize
from ghnq_tf._keras import keras, tf
from ghnq_tf.quant.mse_ranges import MSERangeQuantizer, quantizer_flags
from ghnq_tf.quant.sites import ACTIVATION, INPUT, OUTPUT, quantizer_sites

_MovingAverageQuantizer = tfmot.quantization.keras.quantizers.MovingAverageQuantizer
# The model input's quantizer keeps the running min/max of every batch seen.
_AllValuesQuantizer = tfmot.quantization.keras.quantizers.AllValuesQuantizer

MODES = {"initial": (-6.0, 6.0, 0.999), "batch": (0.0, 0.0, 0.0)}
MODE_NAMES = (*MODES, "mse")


@keras.utils.register_keras_serializable(package="ghnq_tf")
class FreshRangeQuantizer(_MovingAverageQuantizer):
    """tfmot's moving-average activation quantizer, reset before every training call.

    Args:
        num_bits, per_axis, symmetric, narrow_range: as tfmot's quantizer.
        mode: `"initial"` (reset to [-6, 6], decay 0.999) or `"batch"`
            (reset to 0, decay 0: the batch's own min/max, exactly — the
            update `v - (v - x)` equals `x` only from v = 0).
    """

    def __init__(
        self,
        num_bits: int,
        per_axis: bool,
        symmetric: bool,
        narrow_range: bool,
        mode: str = "initial",
    ) -> None:
        super().__init__(num_bits, per_axis, symmetric, narrow_range)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {tuple(MODES)}. Received: mode={mode!r}")
        self.mode = mode

    def __call__(self, inputs: Any, training: Any, weights: dict[str, Any], **kwargs: Any) -> Any:
        min_var, max_var = weights["min_var"], weights["max_var"]
        low, high, decay = MODES[self.mode]

        def reset() -> Any:
            min_var.assign(tf.fill(tf.shape(min_var), low))
            max_var.assign(tf.fill(tf.shape(max_var), high))
            return tf.constant(True)

        smart_cond(training, reset, lambda: tf.constant(False))
        return MovingAvgQuantize(
            inputs,
            min_var,
            max_var,
            ema_decay=decay,
            is_training=training,
            num_bits=self.num_bits,
            per_channel=self.per_axis,
            symmetric=self.symmetric,
            narrow_range=self.narrow_range,
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


def use_fresh_ranges(qmodel: keras.Model, *, mode: str = "initial") -> int:
    """Switches `qmodel`'s activation and input quantizers to `FreshRangeQuantizer`.

    With `mode="mse"`, every last-value-style quantizer (weights included)
    becomes an `MSERangeQuantizer` instead.

    Returns:
        How many quantizers were switched.

    Example:
        qmodel = gq.quantize(model, bits=2)
        use_fresh_ranges(qmodel, mode="batch")  # before training against moving weights
    """
    if mode not in MODE_NAMES:
        raise ValueError(f"`mode` must be one of {MODE_NAMES}. Received: mode={mode!r}")
    switched = 0
    for site in quantizer_sites(qmodel):
        quantizer = site.quantizer
        if mode == "mse":  # weights too: least squares of the current weights at every call
            flags = quantizer_flags(site)
            if flags is not None:
                site.set(MSERangeQuantizer(**flags))
                switched += 1
            continue
        if site.kind not in (INPUT, ACTIVATION, OUTPUT):
            continue
        if type(quantizer) not in (_MovingAverageQuantizer, _AllValuesQuantizer):
            continue
        config = quantizer.get_config()
        site.set(
            FreshRangeQuantizer(
                config["num_bits"],
                config["per_axis"],
                config["symmetric"],
                config["narrow_range"],
                mode=mode,
            )
        )
        switched += 1
    return switched
