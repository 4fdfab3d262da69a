"""Keras model → `ArchGraph`."""

from __future__ import annotations

import dataclasses
from typing import Any

from ghnq_tf._compat import tf_keras as tfk
from ghnq_tf._keras import check_tf_keras_model, keras, tf
from ghnq_tf.graph.arch_graph import ArchGraph, OpNode, ParamRef
from ghnq_tf.graph.layer_rules import (
    Fold,
    NodeSpec,
    UnsupportedLayerError,
    rule_for,
    supported_layer_types,
)


class _Builder:
    """Accumulates nodes, edges and parameters while the model is traced."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.edges: list[tuple[int, int]] = []
        self.params: list[ParamRef] = []
        self.param_index: dict[int, int] = {}  # id(variable) -> index in params
        self.unsupported: list[tuple[tuple[str, ...], str]] = []

    def add_node(self, spec: NodeSpec, layer_path: tuple[str, ...]) -> int:
        index = len(self.nodes)
        param_ids = []
        for attr, var in spec.params:
            key = id(var)
            if key not in self.param_index:  # shared layers: predicted once
                self.param_index[key] = len(self.params)
                self.params.append(
                    ParamRef(
                        layer=layer_path,
                        attr=attr,
                        name=var.name,
                        shape=tuple(int(d) for d in var.shape),
                        node=index,
                    )
                )
            param_ids.append(self.param_index[key])
        fields = dataclasses.asdict(spec)
        fields.update(layer=layer_path, params=tuple(param_ids), folded=[], is_output=False)
        self.nodes.append(fields)
        return index

    def fold(self, node: int, layer: Any, activation: str | None) -> None:
        self.nodes[node]["folded"].append(type(layer).__name__)
        if activation is not None:
            self.nodes[node]["activation"] = activation


def _flat_tensors(structure: Any) -> list[Any]:
    return [t for t in tf.nest.flatten(structure) if tfk.is_keras_tensor(t)]


def _trace(
    model: keras.Model, producer: dict[int, int], prefix: tuple[str, ...], builder: _Builder
) -> None:
    """Adds the nodes of `model`'s layer calls; `producer` maps id(tensor) → node."""
    by_depth = tfk.nodes_by_depth(model)
    for depth in sorted(by_depth, reverse=True):
        for knode in by_depth[depth]:
            layer = knode.layer
            if isinstance(layer, keras.layers.InputLayer):
                continue
            inputs = _flat_tensors(knode.keras_inputs)
            sources = [producer[id(t)] for t in inputs]
            outputs = _flat_tensors(knode.outputs)
            path = (*prefix, layer.name)
            if isinstance(layer, keras.Model) and tfk.is_graph_network(layer):
                for inner, src in zip(layer.inputs, sources, strict=True):
                    producer[id(inner)] = src
                _trace(layer, producer, path, builder)
                results = [producer[id(t)] for t in layer.outputs]
                for tensor, node in zip(outputs, results, strict=True):
                    producer[id(tensor)] = node
                continue
            rule = rule_for(layer, len(inputs))
            if rule is None or (isinstance(rule, Fold) and len(sources) != 1):
                builder.unsupported.append((path, type(layer).__name__))
                out = sources[0] if sources else 0
            elif isinstance(rule, Fold):
                out = sources[0]
                builder.fold(out, layer, rule.activation)
            else:
                out = builder.add_node(rule[0], path)
                builder.edges.extend((src, out) for src in sources)
                for spec in rule[1:]:
                    nxt = builder.add_node(spec, path)
                    builder.edges.append((out, nxt))
                    out = nxt
            for tensor in outputs:
                producer[id(tensor)] = out


def graph_from_keras(model: keras.Model, *, name: str | None = None) -> ArchGraph:
    """Describes a functional, Sequential or nested `tf_keras` model as a graph.

    Nodes follow GHN-2: one per parameter tensor (conv, depthwise conv, dense,
    a separate bias, batch norm) and per parameter-free op that shapes the
    computation (input, add, concat, multiply, pools). Activations, dropout,
    padding, rescaling, reshape and flatten are folded into the node that
    produces their input (recorded in `OpNode.activation` / `OpNode.folded`).

    Example:
        model = tf_keras.applications.MobileNetV2(
            input_shape=(32, 32, 3), weights=None, classes=10)
        graph = gq.graph_from_keras(model)
        graph.num_nodes, len(graph.params)

    Args:
        model: a built `tf_keras.Model` (functional or Sequential, possibly
            with nested models and shared layers).
        name: the graph's name; defaults to `model.name`.

    Returns:
        An `ArchGraph`; its `params` cover every trainable variable once.

    Raises:
        TypeError: for a Keras 3 model or a non-model.
        UnsupportedLayerError: naming every unsupported layer and its type,
            with the list of supported layer types.
        ValueError: for an unbuilt or subclassed model.
    """
    model = check_tf_keras_model(model)
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} is not built, so it has no weights to describe. "
            "Call `model.build(input_shape)` or call it on a batch first."
        )
    if not tfk.is_graph_network(model):
        raise ValueError(
            f"Model {model.name!r} is a subclassed model ({type(model).__name__}), "
            "whose computation graph is hidden in Python code. Rebuild it with the "
            "functional API or `tf_keras.Sequential`."
        )
    builder = _Builder()
    producer: dict[int, int] = {}
    for tensor in model.inputs:
        layer = tfk.producing_layer(tensor)
        producer[id(tensor)] = builder.add_node(NodeSpec("input"), (layer.name,))
    _trace(model, producer, (), builder)
    if builder.unsupported:
        found = ", ".join(f"{'/'.join(path)!r} ({kind})" for path, kind in builder.unsupported)
        raise UnsupportedLayerError(
            f"Model {model.name!r} holds layers that ghnq_tf cannot describe as a graph: "
            f"{found}. Supported layer types: {', '.join(supported_layer_types())}."
        )
    for tensor in model.outputs:
        builder.nodes[producer[id(tensor)]]["is_output"] = True
    covered = set(builder.param_index)
    missing = [v.name for v in model.trainable_variables if id(v) not in covered]
    if missing:
        raise UnsupportedLayerError(
            f"Model {model.name!r} has trainable variables that no graph node "
            f"predicts: {missing}. Their layers are not supported by ghnq_tf."
        )
    nodes = tuple(
        OpNode(**{**n, "folded": tuple(n["folded"]), "shape": tuple(n["shape"])})
        for n in builder.nodes
    )
    input_shape = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else ()
    return ArchGraph(
        name=name or model.name,
        nodes=nodes,
        edges=tuple(builder.edges),
        params=tuple(builder.params),
        input_shape=input_shape,
    )
