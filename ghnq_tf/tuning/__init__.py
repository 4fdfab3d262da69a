"""Keras Tuner for ghnq_tf: GHN hyperparameters and mixed-precision bit allocation.

* `GHNTuner` searches GHN width, depth, convolution, learning rate,
  meta-batch and bit sampling with a short training per trial (`ghnq-tf
  tune`); the best configuration is written as a training config.
* `search_bits` assigns 2, 4 or 8 bits per layer under a weight-memory
  budget, scored by the accuracy of GHN-predicted parameters (no training).

Both run through Keras Tuner oracles and resume from their directory.
Keras Tuner (which imports Keras 3) is loaded on first use of these names;
`ghnq_tf` has selected `tf_keras` for TensorFlow before that, and no
`tf_keras` object is handed to Keras Tuner.

Example:
    import ghnq_tf as gq
    policy = gq.tuning.search_bits(model, ghn=ghn, data=(x_val, y_val))
    tuner = gq.tuning.GHNTuner.from_tune_config(
        gq.tuning.load_tune_config("configs/tune_ghn.yaml"))
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "BitTuner": "ghnq_tf.tuning.bit_search",
    "GHNTuner": "ghnq_tf.tuning.ghn_tuner",
    "PolicyEvaluator": "ghnq_tf.tuning.evaluator",
    "TuneConfig": "ghnq_tf.tuning.config",
    "load_tune_config": "ghnq_tf.tuning.config",
    "predict_policy_params": "ghnq_tf.prediction.mixed",
    "search_bits": "ghnq_tf.tuning.bit_search",
    "tune": "ghnq_tf.tuning.run",
    "weight_bits": "ghnq_tf.prediction.mixed",
    "weight_counts": "ghnq_tf.prediction.mixed",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ghnq_tf.tuning' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
