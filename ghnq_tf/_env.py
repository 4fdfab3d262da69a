"""Selects Keras 2 (`tf_keras`) for TensorFlow, without importing TensorFlow.

TensorFlow decides which Keras `tf.keras` means the first time `tf.keras` is
touched, reading `TF_USE_LEGACY_KERAS`. `select_keras2` sets it to 1 only
when it is unset, and fails with a clear ImportError when the process has
already committed to Keras 3.
"""

from __future__ import annotations

import os
import sys

_LEGACY_VALUES = ("1", "true", "True")

_HOW_TO_FIX = (
    "ghnq_tf needs Keras 2 (the `tf_keras` package), as TF-GNN and "
    "tensorflow-model-optimization do. Import ghnq_tf before touching "
    "`tf.keras`, or set the environment variable TF_USE_LEGACY_KERAS=1 "
    "before TensorFlow is first imported."
)


def _tf_keras_is_keras3(tf_module: object) -> bool:
    """Whether `tf.keras` already resolved to Keras 3, without resolving it."""
    keras = tf_module.__dict__.get("keras")
    if keras is None:
        return False
    if type(keras).__name__ == "KerasLazyLoader":  # not replaced by its module yet
        if not keras.__dict__.get("_tfll_initialized", False):
            return False
        return keras.__dict__.get("_tfll_keras_version") == "keras_3"
    # Once used, the loader is replaced by the Keras module itself.
    name = getattr(keras, "__name__", "")
    return name == "keras" or name.startswith("keras.")


def select_keras2() -> None:
    """Sets TF_USE_LEGACY_KERAS=1 if unset; raises if Keras 3 is already active."""
    value = os.environ.get("TF_USE_LEGACY_KERAS")
    if value is None:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    elif value not in _LEGACY_VALUES:
        raise ImportError(
            f"TF_USE_LEGACY_KERAS is set to {value!r}, which makes `tf.keras` "
            f"Keras 3. {_HOW_TO_FIX}"
        )
    tf_module = sys.modules.get("tensorflow")
    if tf_module is None:
        return
    if _tf_keras_is_keras3(tf_module):
        raise ImportError(
            "TensorFlow was already imported with Keras 3 active (`tf.keras` "
            f"is Keras 3 in this process). {_HOW_TO_FIX}"
        )
