"""`quantize_all`: tfmot's `quantize_annotate_model` + `quantize_apply`, three clones fewer.

For a model in which every layer is annotated, tfmot's two calls build five
copies of it: `quantize_annotate_model` clones it into `QuantizeAnnotate`
wrappers, `quantize_apply` clones that with its weights, clones it again to
remove the wrappers, rebuilds it from the config its layout transforms
rewrote, and clones the result into `QuantizeWrapperV2` layers. Only the last
two make something new; the first three give back a copy of the input model
and the `layer_quantize_map` the annotations spell out.

`quantize_all(model, scheme)` reads that map and the layers needing an output
quantizer from `model` itself and runs the scheme's layout transform on
`model`'s config (it only reads `model`: its layers and weights end up in no
returned model). tfmot would then build the transformed model and clone it
into wrappers, calling every layer on symbolic inputs twice; for a
functional model `quantize_all` creates the transformed layers, builds and
weights each as that first build would, wraps them and calls only the
wrappers (`_wrap_in_one_pass`). A Sequential model, or a transform that
made a layer `model` has no built namesake for, takes tfmot's two builds.
Every call of a layer on symbolic inputs runs without autograph (Keras
would convert the `call` of every tfmot wrapper for a shape inference that
takes no branch on a tensor). The returned model equals what tfmot's two
calls return: the same layers, configs, variables (names and values) and
outputs, and the same TFLite export (tested on Sequential, residual and
concatenating models and MobileNetV2; `tfmot_quantize` in
`ghnq_tf.quant.quantize` is that path).

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
from ghnq_tf.quant.schemes import PolicyLayoutTransform

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
    layout = scheme.get_layout_transformer()
    registry = scheme.get_quantize_registry()
    # The layout transform marks its input for legacy serialization: put
    # `model`'s own setting back.
    legacy = vars(model).get("use_legacy_config", _MISSING)
    try:
        if isinstance(layout, PolicyLayoutTransform) and not isinstance(model, keras.Sequential):
            qmodel = _wrap_in_one_pass(model, layout, registry, quantize_map, output_quantize)
            if qmodel is not None:
                return qmodel
        transformed, quantize_map = layout.apply(model, quantize_map)
    finally:
        if legacy is _MISSING:
            delattr(model, "use_legacy_config")
        else:
            model.use_legacy_config = legacy
    wrap = _wrap_function(quantize_map, output_quantize, registry)
    return keras.models.clone_model(transformed, input_tensors=None, clone_function=wrap)


def _one_pass_applies(originals: dict[str, Any], config: dict[str, Any]) -> bool:
    """True when every layer of the transformed `config` that a wrapper may build
    has a built namesake of the same class in `originals` (the model's layers
    by name), whose build shape it takes.

    The N-bit transforms add only input quantizers here (`build_canonical`
    has split separable convolutions), so this holds for every model
    `gq.quantize` sees; a transform that made a new weighted layer would
    send the model down the two-build path.
    """
    for entry in config["layers"]:
        if entry["class_name"] in ("InputLayer", QuantizeLayer.__name__):
            continue
        original = originals.get(entry["name"])
        if original is None or not original.built:
            return False
        if keras.utils.get_registered_name(type(original)) != entry["class_name"]:
            return False
    return True


def _wrap_in_one_pass(
    model: keras.Model,
    layout: PolicyLayoutTransform,
    registry: Any,
    quantize_map: dict[str, dict[str, Any]],
    output_quantize: set[str],
) -> keras.Model | None:
    """The layout-transformed model, wrapped, in one symbolic pass (None: not here).

    tfmot builds the transformed model from its config (every layer called
    on symbolic inputs), sets its weights, then clones it into wrappers
    (every layer called again). Here each layer of the transformed config is
    created, built as its call in the transformed model would build it (for
    the shape its namesake in `model` was built for, its variables under its
    own name) and given the weights the transform would give it, then
    wrapped; only the wrappers are called. None when `_one_pass_applies`
    says a layer could not be built so.
    """
    transformer = layout.transformer(model, quantize_map)  # copies `quantize_map`
    config, custom_objects, quantize_map = transformer.transformed_config()
    originals = {layer.name: layer for layer in model.layers}
    if not _one_pass_applies(originals, config):
        return None

    def wrapped(layers: dict[str, Any]) -> dict[str, Any]:
        for name, layer in layers.items():
            original = originals.get(name)
            if original is not None:
                tfk.build_as_called(layer, tfk.build_input_shape(original))
                transformer.set_weights_of(layer)
        layout.retarget(layers, quantize_map)
        wrap = _wrap_function(quantize_map, output_quantize, registry)
        return {name: wrap(layer) for name, layer in layers.items()}

    return tfk.functional_from_config(config, custom_objects, wrapped)


_MISSING = object()
