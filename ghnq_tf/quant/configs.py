"""QuantizeConfigs for what tfmot's N-bit registry lacks, and the per-layer choice.

`config_for(layer, w, a)` returns the `QuantizeConfig` a layer gets at
``w``-bit weights and ``a``-bit activations: tfmot's own N-bit config where
the N-bit registry has one, else one of ours:

* `OutputQuantizeConfig`: fake-quantizes only the layer output (standalone
  BatchNormalization, Subtract, Multiply, Average, Rescaling, Normalization,
  element-wise TFOpLambda, Activation("gelu"), ...), exactly as tfmot's
  `DefaultNBitOutputQuantizeConfig` does for Add/Concatenate;
* `WeightsQuantizeConfig`: fake-quantizes only the weights. tfmot's layout
  transform gives a Conv2D/Dense followed directly by a ReLU a no-op config,
  which leaves its kernel in float; this config restores the kernel
  quantization while keeping the fake-quant after the ReLU only.

Example:
    >>> config_for(keras.layers.Multiply(), 4, 4)
    OutputQuantizeConfig(num_bits_weight=4, num_bits_activation=4)
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_optimization as tfmot

from ghnq_tf._compat.tfmot import n_bit_configs, n_bit_quantizers
from ghnq_tf._keras import keras
from ghnq_tf.quant import layers as qlayers

_quantizers = tfmot.quantization.keras.quantizers
QuantizeConfig = tfmot.quantization.keras.QuantizeConfig
NoOpQuantizeConfig = n_bit_configs.NoOpQuantizeConfig


def activation_quantizer(num_bits: int) -> Any:
    """tfmot's activation quantizer: asymmetric, per-tensor, moving-average range."""
    return _quantizers.MovingAverageQuantizer(
        num_bits=num_bits, per_axis=False, symmetric=False, narrow_range=False
    )


def weight_quantizer(num_bits: int, *, per_axis: bool) -> Any:
    """tfmot's weight quantizer: symmetric, narrow range, last-value range."""
    if per_axis:
        return n_bit_quantizers.DefaultNBitConvWeightsQuantizer(
            num_bits_weight=num_bits, num_bits_activation=num_bits
        )
    return _quantizers.LastValueQuantizer(
        num_bits=num_bits, per_axis=False, symmetric=True, narrow_range=True
    )


@keras.utils.register_keras_serializable(package="ghnq_tf")
class OutputQuantizeConfig(QuantizeConfig):
    """Fake-quantizes a layer's output only, at `num_bits_activation` bits.

    Args:
        num_bits_weight: kept for symmetry with tfmot configs (unused: no weights).
        num_bits_activation: bits of the output quantizer.

    Example:
        tfmot.quantization.keras.quantize_annotate_layer(
            keras.layers.Multiply(), OutputQuantizeConfig(num_bits_activation=4))
    """

    def __init__(self, num_bits_weight: int = 8, num_bits_activation: int = 8) -> None:
        self.num_bits_weight = int(num_bits_weight)
        self.num_bits_activation = int(num_bits_activation)

    def get_weights_and_quantizers(self, layer: Any) -> list:
        return []

    def get_activations_and_quantizers(self, layer: Any) -> list:
        return []

    def set_quantize_weights(self, layer: Any, quantize_weights: list) -> None:
        pass

    def set_quantize_activations(self, layer: Any, quantize_activations: list) -> None:
        pass

    def get_output_quantizers(self, layer: Any) -> list:
        return [activation_quantizer(self.num_bits_activation)]

    def get_config(self) -> dict[str, Any]:
        return {
            "num_bits_weight": self.num_bits_weight,
            "num_bits_activation": self.num_bits_activation,
        }

    def __repr__(self) -> str:
        return (
            f"OutputQuantizeConfig(num_bits_weight={self.num_bits_weight}, "
            f"num_bits_activation={self.num_bits_activation})"
        )


@keras.utils.register_keras_serializable(package="ghnq_tf")
class WeightsQuantizeConfig(QuantizeConfig):
    """Fake-quantizes the named weights of a layer; leaves its output alone.

    Args:
        weight_attrs: attribute names of the weights ("kernel", "depthwise_kernel").
        per_axis: per-output-channel ranges (convolutions) or one range (Dense).
        num_bits_weight: weight bits.
        num_bits_activation: kept for symmetry (no activation is quantized).

    Example:
        WeightsQuantizeConfig(["kernel"], per_axis=True, num_bits_weight=4)
    """

    def __init__(
        self,
        weight_attrs: list[str],
        per_axis: bool = True,
        num_bits_weight: int = 8,
        num_bits_activation: int = 8,
    ) -> None:
        self.weight_attrs = list(weight_attrs)
        self.per_axis = bool(per_axis)
        self.num_bits_weight = int(num_bits_weight)
        self.num_bits_activation = int(num_bits_activation)
        self.weight_quantizer = weight_quantizer(self.num_bits_weight, per_axis=self.per_axis)

    def get_weights_and_quantizers(self, layer: Any) -> list:
        return [(getattr(layer, attr), self.weight_quantizer) for attr in self.weight_attrs]

    def get_activations_and_quantizers(self, layer: Any) -> list:
        return []

    def set_quantize_weights(self, layer: Any, quantize_weights: list) -> None:
        if len(quantize_weights) != len(self.weight_attrs):
            raise ValueError(
                f"Layer {layer.name!r} expects {len(self.weight_attrs)} quantized weights, "
                f"got {len(quantize_weights)}."
            )
        for attr, weight in zip(self.weight_attrs, quantize_weights, strict=True):
            setattr(layer, attr, weight)

    def set_quantize_activations(self, layer: Any, quantize_activations: list) -> None:
        pass

    def get_output_quantizers(self, layer: Any) -> list:
        return []

    def get_config(self) -> dict[str, Any]:
        return {
            "weight_attrs": self.weight_attrs,
            "per_axis": self.per_axis,
            "num_bits_weight": self.num_bits_weight,
            "num_bits_activation": self.num_bits_activation,
        }


def weights_only_config(layer: Any, w: int, a: int) -> WeightsQuantizeConfig:
    """`WeightsQuantizeConfig` for a Conv2D, DepthwiseConv2D or Dense layer."""
    L = keras.layers
    if type(layer) is L.DepthwiseConv2D:
        return WeightsQuantizeConfig(["depthwise_kernel"], True, w, a)
    return WeightsQuantizeConfig(["kernel"], type(layer) is not L.Dense, w, a)


def config_for(layer: Any, w: int, a: int) -> QuantizeConfig:
    """The `QuantizeConfig` of `layer` at `w`-bit weights and `a`-bit activations.

    Args:
        layer: a supported layer (see `ghnq_tf.quant.layers`).
        w: weight bits.
        a: activation bits.

    Returns:
        tfmot's N-bit config when tfmot has one, else ours.

    Example:
        config_for(keras.layers.Conv2D(8, 3), 4, 4)  # tfmot's DefaultNBitConvQuantizeConfig
    """
    cls = type(layer)
    if qlayers.is_tf_op_lambda(layer) or cls in qlayers.OUTPUT_QUANTIZED:
        return OutputQuantizeConfig(w, a)
    if cls in qlayers.PASS_THROUGH:
        return NoOpQuantizeConfig()
    if cls is keras.layers.Activation:
        if qlayers.activation_name(layer.activation) in qlayers.EXTRA_ACTIVATIONS:
            return OutputQuantizeConfig(w, a)
    registry = tfmot.quantization.keras.experimental.default_n_bit.DefaultNBitQuantizeRegistry(
        num_bits_weight=w, num_bits_activation=a
    )
    return registry.get_quantize_config(layer)


def custom_objects() -> dict[str, Any]:
    """Our config classes by name, for `tfmot.quantization.keras.quantize_scope`."""
    return {
        "OutputQuantizeConfig": OutputQuantizeConfig,
        "WeightsQuantizeConfig": WeightsQuantizeConfig,
    }
