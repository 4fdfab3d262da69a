"""Private tf_keras internals: the `TFOpLambda` class and the functional graph.

tf_keras keeps a functional model's call graph in private attributes
(`_is_graph_network`, `_nodes_by_depth`, `_nested_outputs`, a layer's
`_inbound_nodes`, a symbolic tensor's `_keras_history`); ghnq_tf reads them
only through the functions here.
"""

from __future__ import annotations

from typing import Any

from tf_keras.src.layers.core import tf_op_layer

from ghnq_tf._compat import require
from ghnq_tf._keras import keras

TFOpLambda = require(tf_op_layer, "TFOpLambda", package="tf_keras")


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


__all__ = [
    "TFOpLambda",
    "inbound_nodes",
    "is_graph_network",
    "is_keras_tensor",
    "nested_outputs",
    "nodes_by_depth",
    "outbound_nodes",
    "producing_layer",
]
