"""Private tfmot internals: N-bit scheme modules, wrapper state, config bits, transformer.

tfmot 0.8.1 exposes its N-bit scheme only under
`tensorflow_model_optimization.python...experimental.default_n_bit`, keeps a
`QuantizeWrapper`'s quantizers in private lists, a `QuantizeConfig`'s bits in
`_num_bits_*` and looks matched layers up in `ModelTransformer._get_layers`.
"""

from __future__ import annotations

import copy
from typing import Any

from tensorflow_model_optimization.python.core.quantization.keras import (
    quant_ops,
    quantize_aware_activation,
    quantize_config,
    quantize_layer,
)
from tensorflow_model_optimization.python.core.quantization.keras.experimental.default_n_bit import (  # noqa: E501
    default_n_bit_quantize_configs as n_bit_configs,
)
from tensorflow_model_optimization.python.core.quantization.keras.experimental.default_n_bit import (  # noqa: E501
    default_n_bit_quantize_registry as n_bit_registry,
)
from tensorflow_model_optimization.python.core.quantization.keras.experimental.default_n_bit import (  # noqa: E501
    default_n_bit_quantizers as n_bit_quantizers,
)
from tensorflow_model_optimization.python.core.quantization.keras.experimental.default_n_bit import (  # noqa: E501
    default_n_bit_transforms as n_bit_transforms,
)
from tensorflow_model_optimization.python.core.quantization.keras.graph_transformations import (
    model_transformer,
)

from ghnq_tf._compat import require

_PACKAGE = "tensorflow-model-optimization"

QuantizeLayer = require(quantize_layer, "QuantizeLayer", package=_PACKAGE)
QuantizeAwareActivation = require(
    quantize_aware_activation, "QuantizeAwareActivation", package=_PACKAGE
)
MovingAvgQuantize = require(quant_ops, "MovingAvgQuantize", package=_PACKAGE)
OutputOnlyConfig = require(quantize_config, "OutputOnlyConfig", package=_PACKAGE)
ModelTransformer = require(model_transformer, "ModelTransformer", package=_PACKAGE)
_TRANSFORMER_METHODS = (
    "_get_layers",
    "_is_functional_model",
    "_get_consuming_layers",
    "_replace",
    "_find_pattern",
    "_get_matched_layers",
    "_store_successful_match",
    "_get_keras_layer_weights",
    "_get_keras_layer_names_and_weights",
    "_set_layer_weights",
    "_set_layer_names_and_weights",
)
for _method in _TRANSFORMER_METHODS:
    require(ModelTransformer, _method, package=_PACKAGE)

# The private attributes read and written below, for `tests/test_compat.py`.
WRAPPER_STATE = ("_weight_vars", "_quantize_activations", "_output_quantizers")
ACTIVATION_VARS = ("_pre_activation_vars", "_post_activation_vars")


# --- QuantizeWrapper state ----------------------------------------------------


def weight_vars(wrapper: Any) -> list[tuple[Any, Any, Any]]:
    """(weight, quantizer, quantizer variables) of each quantized weight of `wrapper`."""
    return wrapper._weight_vars


def set_weight_quantizer(wrapper: Any, index: int, quantizer: Any) -> None:
    """Makes `wrapper` quantize its `index`-th weight with `quantizer`."""
    weight, _, qvars = wrapper._weight_vars[index]
    wrapper._weight_vars[index] = (weight, quantizer, qvars)


def quantize_activations(wrapper: Any) -> list[Any]:
    """The `QuantizeAwareActivation`s of `wrapper` (one per quantized activation)."""
    return wrapper._quantize_activations


def activation_quantizer_vars(activation: Any) -> list[Any]:
    """The quantizer variables a `QuantizeAwareActivation` holds (pre and/or post)."""
    return [getattr(activation, name) for name in ACTIVATION_VARS if hasattr(activation, name)]


def output_quantizers(wrapper: Any) -> list[Any]:
    """The output quantizers of `wrapper` (a list one may assign into)."""
    return wrapper._output_quantizers


def output_quantizer_vars(wrapper: Any) -> Any:
    """The variables of `wrapper`'s output quantizers."""
    return wrapper._output_quantizer_vars


# --- QuantizeConfig bits ---------------------------------------------------------


def set_config_bits(config: Any, w: int, a: int) -> None:
    """Sets the weight and activation bits an N-bit `QuantizeConfig` records."""
    config._num_bits_weight, config._num_bits_activation = w, a


# Attribute names a config keeps its bits under (private in tfmot's N-bit
# configs, public in ghnq_tf's own).
WEIGHT_BITS_ATTRS = ("_num_bits_weight", "num_bits_weight")
ACTIVATION_BITS_ATTRS = ("_num_bits_activation", "num_bits_activation")


# --- ModelTransformer -------------------------------------------------------------


class CallOrderModelTransformer(ModelTransformer):
    """`ModelTransformer` whose layer lookups follow the order of `layer_names`.

    tfmot's `_get_layers(names)` returns layers in model-config order; this
    one returns them in call order (see `ghnq_tf.quant.layout`). Only for
    functional models. A Sequential model has no multi-input layer to rewire,
    and tfmot's `_replace_sequential` needs the config order: it inserts the
    replacement where the first of the returned layers sat.

    The consumers of a layer (asked for every layer a pattern is tried on)
    come from an index of the current config, rebuilt after each replacement,
    instead of a scan of every layer's inputs per question: the same lists, in
    the same order; pattern matching on MobileNetV2 goes from a quadratic scan
    to a linear one.
    """

    _consumers: dict[str, list[dict[str, Any]]] | None = None
    _consumers_of: int | None = None  # id() of the config the index describes

    def _get_consuming_layers(self, check_layer: dict[str, Any]) -> list[dict[str, Any]]:
        if self._consumers is None or self._consumers_of != id(self._config):
            consumers: dict[str, list[dict[str, Any]]] = {}
            for layer in self._config["layers"]:
                for name in dict.fromkeys(self._get_inbound_layer_names(layer)):
                    consumers.setdefault(name, []).append(layer)
            self._consumers, self._consumers_of = consumers, id(self._config)
        return list(self._consumers.get(check_layer["config"]["name"], []))

    def _replace(self, *args: Any, **kwargs: Any) -> Any:
        self._consumers = None  # the config changes
        return super()._replace(*args, **kwargs)

    def transformed_config(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """`transform()` without building the model: (config, custom objects, metadata map).

        The same matching and replacement loop as tfmot 0.8.1's `transform`,
        stopped before `keras.Model.from_config`; `set_weights_of` then gives
        each layer built from the config the weights `transform` would set.
        The model's `use_legacy_config` is left set, as `transform` leaves it.
        """
        self.model.use_legacy_config = True  # tfmot's transforms match the legacy format
        self._config = self.model.get_config()
        self._transform_matched_layers_map = {}
        self._layer_weights_map, self._layer_names_and_weights_map = {}, {}
        for layer in self.model.layers:
            self._layer_weights_map[layer.name] = self._get_keras_layer_weights(layer)
            self._layer_names_and_weights_map[layer.name] = self._get_keras_layer_names_and_weights(
                layer
            )
        self._layer_metadata_map = copy.deepcopy(self.layer_metadata)
        match_found = True
        while match_found:  # until no transform matches anywhere
            match_found = False
            for transform in self.transforms:
                while True:
                    match = self._find_pattern(
                        transform.pattern(), self._get_matched_layers(transform)
                    )
                    if not match:
                        break
                    self._store_successful_match(transform, match)
                    replacement = transform.replacement(copy.deepcopy(match))
                    if match == replacement:
                        continue
                    match_found = True
                    self._replace(match, replacement)
        custom_objects: dict[str, Any] = {}
        for transform in self.transforms:
            custom_objects.update(transform.custom_objects())
        return self._config, custom_objects, copy.deepcopy(self._layer_metadata_map)

    def set_weights_of(self, layer: Any) -> None:
        """Sets `layer`'s weights as `transform` sets those of its namesake."""
        weights = self._layer_weights_map.get(layer.name)
        if weights:
            self._set_layer_weights(layer, weights)
            return
        names_and_weights = self._layer_names_and_weights_map.get(layer.name)
        if names_and_weights:
            self._set_layer_names_and_weights(layer, names_and_weights)

    def _get_layers(self, layer_names: list[str]) -> list[dict[str, Any]]:
        if not self._is_functional_model(self.model):
            return super()._get_layers(layer_names)
        by_name = {layer["config"]["name"]: layer for layer in self._config["layers"]}
        layers, seen = [], set()
        for name in layer_names:
            if name in by_name and name not in seen:
                seen.add(name)
                layers.append(by_name[name])
        return layers


__all__ = [
    "ACTIVATION_BITS_ATTRS",
    "WEIGHT_BITS_ATTRS",
    "CallOrderModelTransformer",
    "ModelTransformer",
    "MovingAvgQuantize",
    "OutputOnlyConfig",
    "QuantizeAwareActivation",
    "QuantizeLayer",
    "activation_quantizer_vars",
    "n_bit_configs",
    "n_bit_quantizers",
    "n_bit_registry",
    "n_bit_transforms",
    "output_quantizer_vars",
    "output_quantizers",
    "quantize_activations",
    "set_config_bits",
    "set_weight_quantizer",
    "weight_vars",
]
