"""Activation ranges from the current batch, for training against moving weights.

tfmot's `MovingAverageQuantizer` quantizes activations in training mode with
ranges kept as a moving average (decay 0.999) that starts at [-6, 6]. For a
network trained for thousands of steps that converges; for the networks a GHN
trains on — whose weights are replaced by new predictions at every step — it
never does, so ranges stay near their start (at 2 bits every small activation
rounds to zero, and the straight-through gradient is cut outside the stale
range). `use_batch_ranges` makes the activation quantizers of a model use the
current batch's min/max instead (tfmot's own `MovingAvgQuantize` with decay
0): the fake-quant of a step then depends only on the weights and the batch,
which is also what makes GHN training resume and distribute exactly.

Inference mode is unchanged: it reads the range variables, which hold the
last batch's range (or what `calibrate` sets).
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

from ghnq_tf._keras import keras, tf
from ghnq_tf.quant.sites import ACTIVATION, INPUT, OUTPUT, quantizer_sites

_MovingAverageQuantizer = tfmot.quantization.keras.quantizers.MovingAverageQuantizer
# The model input's quantizer keeps the running min/max of every batch seen.
_AllValuesQuantizer = tfmot.quantization.keras.quantizers.AllValuesQuantizer


@keras.utils.register_keras_serializable(package="ghnq_tf")
class BatchRangeQuantizer(_MovingAverageQuantizer):
    """tfmot's moving-average activation quantizer with decay 0 (batch min/max)."""

    def __call__(self, inputs: Any, training: Any, weights: dict[str, Any], **kwargs: Any) -> Any:
        min_var, max_var = weights["min_var"], weights["max_var"]

        def reset() -> Any:
            # With decay 0 the update is `v - (v - batch)`, exactly `batch`
            # only from v = 0: zero first, so no trace of the previous range.
            min_var.assign(tf.zeros_like(min_var))
            max_var.assign(tf.zeros_like(max_var))
            return tf.constant(True)

        tf.__internal__.smart_cond.smart_cond(training, reset, lambda: tf.constant(False))
        return quant_ops.MovingAvgQuantize(
            inputs,
            min_var,
            max_var,
            ema_decay=0.0,
            is_training=training,
            num_bits=self.num_bits,
            per_channel=self.per_axis,
            symmetric=self.symmetric,
            narrow_range=self.narrow_range,
        )


def use_batch_ranges(qmodel: keras.Model) -> int:
    """Switches `qmodel`'s activation and input quantizers to batch ranges.

    Returns:
        How many quantizers were switched.

    Example:
        >>> qmodel = gq.quantize(model, bits=2)
        >>> use_batch_ranges(qmodel)  # before training it against moving weights
    """
    switched = 0
    for site in quantizer_sites(qmodel):
        quantizer = site.quantizer
        if site.kind not in (INPUT, ACTIVATION, OUTPUT):
            continue
        if type(quantizer) not in (_MovingAverageQuantizer, _AllValuesQuantizer):
            continue
        config = quantizer.get_config()
        site.set(
            BatchRangeQuantizer(
                num_bits=config["num_bits"],
                per_axis=config["per_axis"],
                symmetric=config["symmetric"],
                narrow_range=config["narrow_range"],
            )
        )
        switched += 1
    return switched
