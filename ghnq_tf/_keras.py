"""The one place ghnq_tf imports Keras.

TF-GNN 1.0.3 and tensorflow-model-optimization 0.8.1 only work with Keras 2,
which TensorFlow >= 2.16 ships as the separate ``tf_keras`` package. TensorFlow
decides which Keras ``tf.keras`` means the first time ``tf.keras`` is touched,
reading ``TF_USE_LEGACY_KERAS``. This module sets ``TF_USE_LEGACY_KERAS=1``
only when the variable is unset, and fails with a clear ImportError when the
process already committed to Keras 3.

Every other module does ``from ghnq_tf._keras import keras``.
"""

from __future__ import annotations

from typing import Any

from ghnq_tf._env import select_keras2

select_keras2()

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402


def is_keras3_object(obj: Any) -> bool:
    """True when `obj` is a Keras 3 model or layer (package ``keras``)."""
    for cls in type(obj).__mro__:
        module = cls.__module__ or ""
        if module == "keras" or module.startswith("keras."):
            return True
    return False


def check_tf_keras_model(model: Any, *, arg_name: str = "model") -> keras.Model:
    """Returns `model` if it is a `tf_keras.Model`, else raises a clear error.

    Args:
        model: the object a public function received.
        arg_name: the argument's name, used in the error message.

    Raises:
        TypeError: for a Keras 3 model or anything that is not a Keras model.
    """
    if isinstance(model, keras.Model):
        return model
    if is_keras3_object(model):
        raise TypeError(
            f"`{arg_name}` is a Keras 3 model ({type(model).__module__}."
            f"{type(model).__name__}), but ghnq_tf works on Keras 2 models "
            "(`tf_keras`), as TF-GNN and tfmot do. Rebuild it with "
            "`import tf_keras as keras` (same layer API), or save its "
            "weights and load them into the tf_keras equivalent. "
            f"Received: {arg_name}={model!r}"
        )
    raise TypeError(
        f"`{arg_name}` must be a `tf_keras.Model`. Received: {arg_name}={model!r} "
        f"of type {type(model).__name__}"
    )


__all__ = ["keras", "tf", "check_tf_keras_model", "is_keras3_object"]
