"""Private tf_keras internals: the `TFOpLambda` class and the functional graph.

tf_keras keeps a functional model's call graph in private attributes
(`_is_graph_network`, `_nodes_by_depth`, `_nested_outputs`, a layer's
`_inbound_nodes`, a symbolic tensor's `_keras_history`), rebuilds a model
from its config in private functions (`functional.reconstruct_from_config`,
`SharedObjectLoadingScope`) and builds a layer in `_maybe_build`; ghnq_tf
uses them only through the functions here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tf_keras.src.engine import functional
from tf_keras.src.layers.core import tf_op_layer
from tf_keras.src.saving.legacy import serialization

from ghnq_tf._compat import require
from ghnq_tf._keras import keras

TFOpLambda = require(tf_op_layer, "TFOpLambda", package="tf_keras")
_reconstruct_from_config = require(functional, "reconstruct_from_config", package="tf_keras")
_connect_ancillary_layers = require(functional, "connect_ancillary_layers", package="tf_keras")
_SharedObjectLoadingScope = require(serialization, "SharedObjectLoadingScope", package="tf_keras")


def is_graph_network(model: Any) -> bool:
    """True for a functional or Sequential model (its call graph is known)."""
    return bool(getattr(model, "_is_graph_network", False))


def nodes_by_depth(model: keras.Model) -> dict[int, list[Any]]:
    """{depth: Keras nodes} of a functional model's call graph."""
    return model._nodes_by_depth


def nested_outputs(model: keras.Model) -> Any:
    """The output structure a functional model was built with."""
    return model._nested_outputs


def inbound_nodes(layer: Any) -> list[Any]:
    """The Keras nodes of each call of `layer`."""
    return layer._inbound_nodes


def outbound_nodes(layer: Any) -> list[Any]:
    """The Keras nodes in which `layer`'s outputs are consumed."""
    return layer._outbound_nodes


def is_keras_tensor(value: Any) -> bool:
    """True for a symbolic tensor of a functional model (it has a Keras history)."""
    return hasattr(value, "_keras_history")


def producing_layer(tensor: Any) -> Any:
    """The layer whose call produced the symbolic `tensor`."""
    return tensor._keras_history.layer


def build_input_shape(layer: Any) -> Any:
    """The input shape `layer` was built for (None if it is not built)."""
    return getattr(layer, "_build_input_shape", None)


def build_as_called(layer: Any, input_shape: Any) -> None:
    """Builds `layer` for `input_shape` as its first call on symbolic inputs would.

    Its variables are created under its own name scope (`conv/kernel:0`, not
    under an enclosing wrapper's) and its build shape is recorded (what
    `keras.layers.serialize` reports as its `build_config`).
    """
    if not hasattr(layer.build, "_is_default"):  # tf_keras builds overridden `build`s only
        with keras.backend.name_scope(layer._name_scope()):
            layer.build(input_shape)
    keras.layers.Layer.build(layer, input_shape)


def functional_from_config(
    config: dict[str, Any],
    custom_objects: dict[str, Any],
    replace: Callable[[dict[str, Any]], dict[str, Any]],
) -> keras.Model:
    """`keras.Model.from_config(config, custom_objects)`, with a say on each layer.

    Every layer but the inputs is created from its config entry first, none
    of them called; `replace(layers)` (name → layer) returns the layer to
    call in place of each (itself, a wrapper of it, ...). The model is then
    wired as `from_config` wires it: one call per config node, on symbolic
    inputs.
    """
    with _SharedObjectLoadingScope():
        layers = {
            entry["name"]: keras.layers.deserialize(entry, custom_objects=custom_objects)
            for entry in config["layers"]
            if entry["class_name"] != "InputLayer"
        }
        inputs, outputs, created = _reconstruct_from_config(
            config, custom_objects, dict(replace(layers))
        )
        model = keras.Model(inputs=inputs, outputs=outputs, name=config.get("name"))
        _connect_ancillary_layers(model, created)
    return model


__all__ = [
    "TFOpLambda",
    "build_as_called",
    "build_input_shape",
    "functional_from_config",
    "inbound_nodes",
    "is_graph_network",
    "is_keras_tensor",
    "nested_outputs",
    "nodes_by_depth",
    "outbound_nodes",
    "producing_layer",
]
