"""Map an `ArchGraph`'s parameters back to a model's variables."""

from __future__ import annotations

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.arch_graph import ArchGraph, ParamRef


def find_layer(model: keras.Model, path: tuple[str, ...] | str) -> keras.layers.Layer:
    """The layer at `path` (names from outer model to layer) inside `model`."""
    layer = model
    for part in (path,) if isinstance(path, str) else path:
        try:
            layer = layer.get_layer(part)
        except (ValueError, AttributeError) as err:
            raise ValueError(
                f"Model {model.name!r} has no layer at path {path!r} (failed at {part!r})."
            ) from err
    return layer


def param_variable(model: keras.Model, param: ParamRef) -> tf.Variable:
    """The variable of `model` that `param` describes."""
    var = getattr(find_layer(model, param.layer), param.attr, None)
    if var is None or tuple(var.shape) != tuple(param.shape):
        raise ValueError(
            f"Layer {param.layer!r} of model {model.name!r} has no `{param.attr}` of shape "
            f"{param.shape}; the model does not match the graph."
        )
    return var


def param_variables(model: keras.Model, graph: ArchGraph) -> list[tf.Variable]:
    """The variables of `model` in `graph.params` order."""
    return [param_variable(model, p) for p in graph.params]
