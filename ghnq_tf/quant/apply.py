"""`quantize_all`: tfmot's `quantize_annotate_model` + `quantize_apply`, three clones fewer.

For a model in which every layer is annotated, tfmot's two calls build five
copies of it: `quantize_annotate_model` clones it into `QuantizeAnnotate`
wrappers, `quantize_apply` clones that with its weights, clones it again to
remove the wrappers, rebuilds it from the config its layout transforms
rewrote, and clones the result into `QuantizeWrapperV2` layers. Only the last
two make something new; the first three give back a copy of the input model
and the `layer_quantize_map` the annotations spell out.

`quantize_all(model, scheme)` reads that map and the layers needing an output
quantizer from `model` itself, runs the scheme's layout transform on `model`
(which it only reads: its layers and weights end up in no returned model) and
wraps the result as `quantize_apply`'s last step does. Every call of a layer
on symbolic inputs runs without autograph (Keras would convert the `call`
of every tfmot wrapper for a shape inference that takes no branch on a
tensor). The returned model equals what tfmot's two calls return: the same
layers, configs, variables (names and values) and outputs, and the same
TFLite export (tested on Sequential, residual and concatenating models and
MobileNetV2; `tfmot_quantize` in `ghnq_tf.quant.quantize` is that path).

Example:
    with quantize_scope():
        qmodel = quantize_all(flat, PolicyQuantizeScheme(policy))
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_optimization as tfmot

from ghnq_tf._compat import tf_keras as tfk
from ghnq_tf._compat.tfmot import OutputOnlyConfig, QuantizeLayer
from ghnq_tf._keras import keras, tf
from ghnq_tf.quant.canonical import nodes

_tfmot_keras = tfmot.quantization.keras
QUANTIZED_LAYER_PREFIX = "quant_"  # quantize_apply's default


def _annotations(model: keras.Model) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """`quantize_apply`'s (layer_quantize_map, requires_output_quantize) for `model`
    once `quantize_annotate_model` has annotated it.

    Every layer but the inputs and Lambda layers (which tfmot's annotation
    skips) is annotated with no config; a layer whose one call takes one
    tensor of a non-annotated layer asks for that layer's output to be
    quantized; an input feeding an annotated layer joins the map.
    """
    annotated = {
        layer.name
        for layer in model.layers
        if not isinstance(layer, (keras.layers.InputLayer, keras.layers.Lambda))
    }
    calls: dict[str, list[Any]] = {}
    for node in nodes(model):  # the calls made in `model` only, as in tfmot's copy
        calls.setdefault(node.layer.name, []).append(node)
    quantize_map: dict[str, dict[str, Any]] = {
        name: {"quantize_config": None} for name in annotated
    }
    output_quantize = set()
    for name in annotated:
        if len(calls.get(name, [])) == 1:
            sources = tf.nest.flatten(calls[name][0].inbound_layers)
            if len(sources) == 1 and sources[0].name not in annotated:
                output_quantize.add(sources[0].name)
    for tensor in model.inputs:
        source = tfk.producing_layer(tensor)
        feeds = {
            node.layer.name
            for node in nodes(model)
            if any(layer is source for layer in tf.nest.flatten(node.inbound_layers))
        }
        if feeds & annotated:
            quantize_map[source.name] = {}
    return quantize_map, output_quantize


def _wrap_function(quantize_map: dict, output_quantize: set[str], registry: Any) -> Any:
    """`quantize_apply`'s clone function (its step 4), for the transformed model."""

    def wrap(layer: Any) -> Any:
        if isinstance(layer, QuantizeLayer):
            if len(tfk.outbound_nodes(layer)) > 1:
                return layer
            config = layer.get_config()
            if layer.name not in quantize_map:
                return QuantizeLayer.from_config(config)
            config.update(quantize_map[layer.name])
            return QuantizeLayer.from_config(config)
        if isinstance(layer, _tfmot_keras.QuantizeWrapper) or (
            layer.name not in quantize_map and layer.name not in output_quantize
        ):
            return layer
        if layer.name in output_quantize:
            if not registry.supports(layer):
                return layer
            full_config = registry.get_quantize_config(layer)
            if not full_config:
                return layer
            quantize_config = OutputOnlyConfig(full_config)
        else:
            quantize_config = quantize_map[layer.name].get("quantize_config")
            if not quantize_config and registry.supports(layer):
                quantize_config = registry.get_quantize_config(layer)
        if not quantize_config:
            raise RuntimeError(
                f"Layer {layer.name}:{type(layer)} is not supported: no QuantizeConfig."
            )
        return _tfmot_keras.QuantizeWrapperV2(
            layer, quantize_config, name_prefix=QUANTIZED_LAYER_PREFIX
        )

    return wrap


def quantize_all(model: keras.Model, scheme: Any) -> keras.Model:
    """The quantize-aware model tfmot makes of `model` with every layer annotated.

    Args:
        model: a built functional or Sequential model (not modified).
        scheme: a tfmot `QuantizeScheme` (its layout transform and registry).

    Returns:
        What `quantize_apply(quantize_annotate_model(model), scheme)`
        returns. Call it within `quantize_scope()` when the scheme's configs
        are custom objects, as for `quantize_apply`.

    Example:
        qmodel = quantize_all(model, PolicyQuantizeScheme(policy))
    """
    return tf.autograph.experimental.do_not_convert(_quantize_all)(model, scheme)


def _quantize_all(model: keras.Model, scheme: Any) -> keras.Model:
    quantize_map, output_quantize = _annotations(model)
    # The layout transform marks its input for legacy serialization: put
    # `model`'s own setting back.
    legacy = vars(model).get("use_legacy_config", _MISSING)
    try:
        transformed, quantize_map = scheme.get_layout_transformer().apply(model, quantize_map)
    finally:
        if legacy is _MISSING:
            delattr(model, "use_legacy_config")
        else:
            model.use_legacy_config = legacy
    wrap = _wrap_function(quantize_map, output_quantize, scheme.get_quantize_registry())
    return keras.models.clone_model(transformed, input_tensors=None, clone_function=wrap)


_MISSING = object()
