"""A flat, tfmot-ready copy of a Keras model.

tfmot quantizes neither nested models nor, with stable names, separable
convolutions (its own transform splits them into auto-named layers). Before
quantizing, the model is rebuilt as one flat functional model in which

* every nested functional/Sequential model is inlined; its layers are named
  ``outer.inner`` (the *key* of such a layer, used by policies and
  `target_variables`, is ``outer/inner``, i.e. ``"/".join`` of its path);
* every SeparableConv2D ``name`` becomes a DepthwiseConv2D ``name_depthwise``
  (no bias, no activation) followed by a 1×1 Conv2D ``name_pointwise`` holding
  the bias and activation (what tfmot's own transform computes, so the
  quantizer sits between the two convolutions as TFLite needs);
* every element-wise TFOpLambda call (``x + 3.``) becomes an `ElementwiseOp`
  layer of the same name (tfmot cannot re-create wrapped TFOpLambda layers);
* a tensor a layer receives more than once (``Concatenate()([x, x, y])``) is
  passed the second time through an `Identity` layer ``name.repeat1``
  (tfmot's transforms look input layers up by name, so they drop a repeated
  input and rewire the layer to fewer inputs than it was built for).

The input model is never modified: layers are re-created from their configs
and weights are copied.

Example:
    flat, plan = build_canonical(model)
    plan.weights[("block1_sepconv1", "pointwise_kernel")]  # ('block1_sepconv1_pointwise', 'kernel')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ghnq_tf._compat import tf_keras as tfk
from ghnq_tf._compat.tf_keras import TFOpLambda
from ghnq_tf._keras import keras, tf
from ghnq_tf.quant.tf_op_layer import from_tf_op_lambda

L = keras.layers


DEPTHWISE_SUFFIX = "_depthwise"
POINTWISE_SUFFIX = "_pointwise"
REPEAT_SUFFIX = ".repeat"


@dataclasses.dataclass
class CanonicalPlan:
    """How the layers and weights of a model map onto its flat copy.

    Attributes:
        layers: layer key (``"/".join(path)``) → canonical layer names (two for a
            separable convolution, else one).
        weights: (layer key, weight attribute) → (canonical layer name, attribute).
        order: layer keys in topological order.
    """

    layers: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    weights: dict[tuple[str, str], tuple[str, str]] = dataclasses.field(default_factory=dict)
    order: list[str] = dataclasses.field(default_factory=list)


def layer_key(path: tuple[str, ...]) -> str:
    """The key of the layer at `path` (outer model → layer names)."""
    return "/".join(path)


def canonical_name(path: tuple[str, ...]) -> str:
    """The name of the layer at `path` in the flat model."""
    return ".".join(path)


def _is_nested(layer: Any) -> bool:
    return isinstance(layer, keras.Model) and tfk.is_graph_network(layer)


def nodes(model: keras.Model) -> Iterator[Any]:
    """The call nodes of `model` (its own, not other models' calls of its layers),
    inputs first."""
    by_depth = tfk.nodes_by_depth(model)
    for depth in sorted(by_depth, reverse=True):
        yield from by_depth[depth]


def walk_layers(
    model: keras.Model, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, layer) of every leaf layer call, nested models inlined, in order.

    Shared layers are yielded once (at their first call).
    """
    seen: set[int] = set()
    for path, layer in _walk(model, prefix):
        if id(layer) not in seen:
            seen.add(id(layer))
            yield path, layer


def _walk(model: keras.Model, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    for node in nodes(model):
        layer = node.layer
        if isinstance(layer, L.InputLayer):
            continue
        path = (*prefix, layer.name)
        if _is_nested(layer):
            yield from _walk(layer, path)
        else:
            yield path, layer


def _weight_attrs(layer: Any) -> list[str]:
    """Attribute names of the layer's weights (kernel, bias, gamma, ...)."""
    attrs = []
    for var in layer.weights:
        attr = var.name.split("/")[-1].split(":")[0]
        if getattr(layer, attr, None) is var:
            attrs.append(attr)
    return attrs


def make_plan(model: keras.Model) -> CanonicalPlan:
    """The layer and weight mapping of `model` onto its flat copy (nothing built).

    Example:
        make_plan(model).layers["conv1"]  # ['conv1']
    """
    plan = CanonicalPlan()
    for path, layer in walk_layers(model):
        key, name = layer_key(path), canonical_name(path)
        plan.order.append(key)
        if type(layer) is L.SeparableConv2D:
            dw, pw = name + DEPTHWISE_SUFFIX, name + POINTWISE_SUFFIX
            plan.layers[key] = [dw, pw]
            plan.weights[(key, "depthwise_kernel")] = (dw, "depthwise_kernel")
            plan.weights[(key, "pointwise_kernel")] = (pw, "kernel")
            if layer.use_bias:
                plan.weights[(key, "bias")] = (pw, "bias")
            continue
        plan.layers[key] = [name]
        for attr in _weight_attrs(layer):
            plan.weights[(key, attr)] = (name, attr)
    return plan


class _Rebuilder:
    """Re-creates layers (once each, so shared layers stay shared) and copies weights."""

    def __init__(self) -> None:
        self.clones: dict[int, Any] = {}
        self.copies: list[tuple[Any, Any]] = []  # (original, clone) weight copies to do

    def call(self, layer: Any, path: tuple[str, ...], args: Any, kwargs: Any) -> Any:
        if type(layer).__name__ == "TFOpLambda":
            op, tensors = from_tf_op_lambda(layer, args, kwargs, canonical_name(path))
            return op(tensors if len(tensors) > 1 else tensors[0])
        if type(layer) is L.SeparableConv2D:
            dw, pw = self._separable(layer, path)
            return pw(dw(*args, **kwargs))
        clone = self.clones.get(id(layer))
        if clone is None:
            config = layer.get_config()
            config["name"] = canonical_name(path)
            clone = type(layer).from_config(config)
            self.clones[id(layer)] = clone
            self.copies.append((layer, clone))
        return clone(*args, **kwargs)

    def _separable(self, layer: Any, path: tuple[str, ...]) -> tuple[Any, Any]:
        if id(layer) in self.clones:
            return self.clones[id(layer)]
        c = layer.get_config()
        name = canonical_name(path)
        dw = L.DepthwiseConv2D(
            kernel_size=c["kernel_size"],
            strides=c["strides"],
            padding=c["padding"],
            depth_multiplier=c["depth_multiplier"],
            data_format=c["data_format"],
            dilation_rate=c["dilation_rate"],
            activation=None,
            use_bias=False,
            depthwise_initializer=c["depthwise_initializer"],
            depthwise_regularizer=c["depthwise_regularizer"],
            depthwise_constraint=c["depthwise_constraint"],
            trainable=c["trainable"],
            name=name + DEPTHWISE_SUFFIX,
        )
        pw = L.Conv2D(
            filters=c["filters"],
            kernel_size=1,
            data_format=c["data_format"],
            activation=c["activation"],
            use_bias=c["use_bias"],
            kernel_initializer=c["pointwise_initializer"],
            bias_initializer=c["bias_initializer"],
            kernel_regularizer=c["pointwise_regularizer"],
            bias_regularizer=c["bias_regularizer"],
            activity_regularizer=c["activity_regularizer"],
            kernel_constraint=c["pointwise_constraint"],
            bias_constraint=c["bias_constraint"],
            trainable=c["trainable"],
            name=name + POINTWISE_SUFFIX,
        )
        self.clones[id(layer)] = (dw, pw)
        self.copies.append((layer, (dw, pw)))
        return dw, pw

    def copy_weights(self) -> None:
        for original, clone in self.copies:
            if isinstance(clone, tuple):
                dw, pw = clone
                dw.depthwise_kernel.assign(original.depthwise_kernel)
                pw.kernel.assign(original.pointwise_kernel)
                if original.use_bias:
                    pw.bias.assign(original.bias)
            else:
                clone.set_weights(original.get_weights())


def _is_keras_tensor(value: Any) -> bool:
    return tfk.is_keras_tensor(value)


def _emit(model: keras.Model, inputs: list[Any], prefix: tuple[str, ...], rb: _Rebuilder) -> list:
    tensors: dict[int, Any] = {id(kt): t for kt, t in zip(model.inputs, inputs, strict=True)}

    def resolve(value: Any) -> Any:
        return tensors[id(value)] if _is_keras_tensor(value) else value

    for node in nodes(model):
        layer = node.layer
        if isinstance(layer, L.InputLayer):
            continue
        path = (*prefix, layer.name)
        args, kwargs = tf.nest.map_structure(resolve, (node.call_args, node.call_kwargs))
        args, kwargs = _split_repeats((args, kwargs), canonical_name(path))
        if _is_nested(layer):
            flat_in = [t for t in tf.nest.flatten((args, kwargs)) if _is_keras_tensor(t)]
            outputs = _emit(layer, flat_in, path, rb)
            outputs = tf.nest.pack_sequence_as(layer.outputs, outputs)
        else:
            outputs = rb.call(layer, path, args, kwargs)
        for kt, t in zip(tf.nest.flatten(node.outputs), tf.nest.flatten(outputs), strict=True):
            tensors[id(kt)] = t
    return [tensors[id(t)] for t in model.outputs]


def _split_repeats(structure: Any, name: str) -> Any:
    """`structure` with every repeat of a tensor passed through a new `Identity`."""
    seen: set[int] = set()
    count = 0

    def split(value: Any) -> Any:
        nonlocal count
        if not _is_keras_tensor(value):
            return value
        if id(value) not in seen:
            seen.add(id(value))
            return value
        count += 1
        return L.Identity(name=f"{name}{REPEAT_SUFFIX}{count}")(value)

    return tf.nest.map_structure(split, structure)


def has_repeated_inputs(model: keras.Model) -> bool:
    """True when a layer of `model` receives one tensor more than once.

    Example: `Concatenate()([x, x, y])`. tfmot's transforms see such a layer
    with fewer inputs than it has, so `build_canonical` splits each repeat
    through an `Identity` layer first.
    """
    for node in nodes(model):
        inputs = [t for t in tf.nest.flatten(node.call_args) if _is_keras_tensor(t)]
        inputs += [t for t in tf.nest.flatten(node.call_kwargs) if _is_keras_tensor(t)]
        if len({id(t) for t in inputs}) < len(inputs):
            return True
    return False


def needs_rebuild(model: keras.Model) -> bool:
    """True when `model` has nested models, separable convolutions, TFOpLambda layers
    or a layer that receives one tensor more than once."""
    return has_repeated_inputs(model) or any(
        _is_nested(layer) or type(layer) in (L.SeparableConv2D, TFOpLambda)
        for layer in model.layers
    )


def build_canonical(model: keras.Model) -> tuple[keras.Model, CanonicalPlan]:
    """A flat copy of `model` (nested models inlined, separable convs split).

    Args:
        model: a built functional or Sequential `tf_keras` model.

    Returns:
        (flat model with copied weights, the `CanonicalPlan` of names).

    Example:
        flat, plan = build_canonical(model)
    """
    plan = make_plan(model)
    rb = _Rebuilder()
    new_inputs = []
    for kt in model.inputs:
        shape = tuple(kt.shape)
        name = tfk.producing_layer(kt).name
        new_inputs.append(
            keras.Input(shape=shape[1:], batch_size=shape[0], dtype=kt.dtype, name=name)
        )
    outputs = _emit(model, new_inputs, (), rb)
    flat = keras.Model(
        new_inputs if len(new_inputs) > 1 else new_inputs[0],
        tf.nest.pack_sequence_as(tfk.nested_outputs(model), outputs),
        name=model.name,
    )
    rb.copy_weights()
    return flat, plan
