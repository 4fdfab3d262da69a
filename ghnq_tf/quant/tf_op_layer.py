"""`ElementwiseOp`: a plain Keras layer standing in for an element-wise TFOpLambda.

tfmot cannot re-create a wrapped TFOpLambda (its inputs are re-nested on
deserialization, so ``x + 3.`` becomes ``[x] + 3.``); the flat model used for
quantization therefore replaces each element-wise TFOpLambda call with this
layer, which calls the same TF symbol with the same constant arguments.

Example:
    op = ElementwiseOp("__operators__.add", args=[{"__tensor__": 0}, 3.0])
    op(tf.zeros([1, 2]))  # [[3., 3.]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ghnq_tf._compat.tensorflow import get_symbol_from_name
from ghnq_tf._compat.tf_keras import is_keras_tensor
from ghnq_tf._keras import keras, tf

_TENSOR = "__tensor__"


def _to_json(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if tf.is_tensor(value):
        return value.numpy().tolist()
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


@keras.utils.register_keras_serializable(package="ghnq_tf")
class ElementwiseOp(keras.layers.Layer):
    """Calls ``tf.<symbol>(*args, **kwargs)`` with the layer inputs in the tensor slots.

    Args:
        symbol: the TF API name, as TFOpLambda records it ("math.multiply").
        args: positional arguments; ``{"__tensor__": i}`` marks input ``i``.
        kwargs: keyword arguments, with the same markers.
        **base_kwargs: `keras.layers.Layer` arguments (name, ...).

    Example:
        ElementwiseOp("math.multiply", args=[{"__tensor__": 0}, 0.5])
    """

    def __init__(
        self,
        symbol: str,
        args: list | None = None,
        kwargs: dict | None = None,
        **base_kwargs: Any,
    ) -> None:
        super().__init__(**base_kwargs)
        self.symbol = symbol
        self.op_args = _to_json(list(args or []))
        self.op_kwargs = {k: _to_json(v) for k, v in (kwargs or {}).items()}
        self.function = get_symbol_from_name(symbol)
        if self.function is None:
            raise ValueError(f"TF symbol `tf.{symbol}` could not be found.")

    def call(self, inputs: Any) -> Any:
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]

        def fill(value: Any) -> Any:
            if isinstance(value, dict) and set(value) == {_TENSOR}:
                return tensors[value[_TENSOR]]
            return value

        args = [fill(v) for v in self.op_args]
        kwargs = {k: fill(v) for k, v in self.op_kwargs.items()}
        return self.function(*args, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(symbol=self.symbol, args=self.op_args, kwargs=self.op_kwargs)
        return config


def from_tf_op_lambda(layer: Any, call_args: tuple, call_kwargs: dict, name: str) -> tuple:
    """(ElementwiseOp, its input tensors) reproducing one TFOpLambda call."""
    tensors: list[Any] = []

    def mark(value: Any) -> Any:
        if is_keras_tensor(value) or tf.is_tensor(value) and not _is_const(value):
            tensors.append(value)
            return {_TENSOR: len(tensors) - 1}
        return value

    args = [mark(v) for v in call_args]
    kwargs = {k: mark(v) for k, v in call_kwargs.items() if k != "name"}
    op = ElementwiseOp(layer.symbol, args=args, kwargs=kwargs, name=name)
    return op, tensors


def _is_const(value: Any) -> bool:
    return isinstance(value, tf.Tensor) and hasattr(value, "numpy")
