"""A tfmot `QuantizeScheme` with per-layer bits, built on the N-bit scheme.

`PolicyQuantizeScheme(policy)` behaves like tfmot's
`DefaultNBitQuantizeScheme(num_bits_weight=w, num_bits_activation=a)` (same
layout transforms: Conv/Dense + BatchNorm (+ ReLU) fusion patterns, concat
handling, input quantizer; run by `ghnq_tf.quant.layout` so that no layer's
inputs are reordered) with three differences:

* every layer gets the bits its `ResolvedPolicy` entry says (the N-bit
  transforms run at the default bits, then the configs they attached are
  re-targeted layer by layer);
* layers missing from tfmot's N-bit registry get our configs
  (`ghnq_tf.quant.configs.config_for`);
* a Conv2D/DepthwiseConv2D/Dense directly followed by a ReLU keeps its
  kernel quantized (tfmot's `LayerReLUQuantize` transform gives it a no-op
  config, leaving the kernel in float).

Example:
    scheme = PolicyQuantizeScheme(policy)
    qmodel = tfmot.quantization.keras.quantize_apply(annotated, scheme)
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_optimization as tfmot

from ghnq_tf._compat.tfmot import QuantizeLayer, n_bit_configs, n_bit_registry, set_config_bits
from ghnq_tf._keras import keras
from ghnq_tf.quant import configs as qconfigs
from ghnq_tf.quant import layers as qlayers
from ghnq_tf.quant.layout import apply_n_bit_layout, n_bit_layout_transformer
from ghnq_tf.quant.policy import ResolvedPolicy

_tfmot_keras = tfmot.quantization.keras


class PolicyQuantizeRegistry(_tfmot_keras.QuantizeRegistry):
    """Gives each layer the `QuantizeConfig` of its policy bits.

    Args:
        policy: the resolved per-layer bits.
    """

    def __init__(self, policy: ResolvedPolicy) -> None:
        self.policy = policy

    def supports(self, layer: Any) -> bool:
        return qlayers.unsupported_reason(layer) is None

    def get_quantize_config(self, layer: Any) -> Any:
        w, a = self.policy.bits(layer.name)
        return qconfigs.config_for(layer, w, a)


def _retarget(config: Any, layer: Any, w: int, a: int) -> Any:
    """`config` (attached by an N-bit transform at the default bits) at (w, a) bits."""
    if isinstance(config, n_bit_configs.NoOpQuantizeConfig):
        if type(layer) in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense):
            return qconfigs.weights_only_config(layer, w, a)
        return config
    if isinstance(config, n_bit_configs.DefaultNBitOutputQuantizeConfig):
        return qconfigs.OutputQuantizeConfig(w, a)
    if isinstance(config, n_bit_registry.DefaultNBitQuantizeConfig):
        # Concat feeders: keep the instance (its output quantizer is disabled
        # by the transform) and change its quantizers' bits.
        set_config_bits(config, w, a)
        config.weight_quantizer.num_bits = w
        config.activation_quantizer.num_bits = a
        return config
    if isinstance(config, n_bit_registry.DefaultNBitActivationQuantizeConfig):
        set_config_bits(config, w, a)
        return config
    return config


class PolicyLayoutTransform(_tfmot_keras.QuantizeLayoutTransform):
    """tfmot's N-bit layout transforms, then per-layer bits.

    Args:
        policy: the resolved per-layer bits.
    """

    def __init__(self, policy: ResolvedPolicy) -> None:
        self.policy = policy

    def apply(self, model: keras.Model, layer_quantize_map: dict) -> tuple[keras.Model, dict]:
        w, a = self.policy.default
        model, layer_quantize_map = apply_n_bit_layout(model, layer_quantize_map, w=w, a=a)
        self.retarget({layer.name: layer for layer in model.layers}, layer_quantize_map)
        return model, layer_quantize_map

    def transformer(self, model: keras.Model, layer_quantize_map: dict) -> Any:
        """The N-bit layout transformer `apply` runs, for a caller that builds the result."""
        w, a = self.policy.default
        return n_bit_layout_transformer(model, layer_quantize_map, w=w, a=a)

    def retarget(self, layers: dict[str, Any], layer_quantize_map: dict) -> None:
        """Sets the policy bits on the transformed layers (name → layer) and their configs.

        The N-bit transforms attach configs at the default bits; each layer's
        own bits replace them, and the input quantizer takes the input bits.
        """
        for layer in layers.values():
            if isinstance(layer, QuantizeLayer) and layer.quantizer is not None:
                layer.quantizer.num_bits = self.policy.input_bits
        for name, entry in layer_quantize_map.items():
            config = entry.get("quantize_config")
            if config is None:
                continue
            layer_w, layer_a = self.policy.bits(name)
            entry["quantize_config"] = _retarget(config, layers[name], layer_w, layer_a)


class PolicyQuantizeScheme(_tfmot_keras.QuantizeScheme):
    """tfmot's N-bit scheme with per-layer bits (see the module docstring).

    Args:
        policy: the resolved per-layer bits.

    Example:
        PolicyQuantizeScheme(policy).get_quantize_registry().policy is policy  # True
    """

    def __init__(self, policy: ResolvedPolicy) -> None:
        self.policy = policy

    def get_layout_transformer(self) -> PolicyLayoutTransform:
        return PolicyLayoutTransform(self.policy)

    def get_quantize_registry(self) -> PolicyQuantizeRegistry:
        return PolicyQuantizeRegistry(self.policy)
