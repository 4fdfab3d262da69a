"""Keras model → architecture graph → `tfgnn.GraphTensor`."""

from ghnq_tf.graph.arch_graph import ArchGraph, OpNode, ParamRef
from ghnq_tf.graph.from_keras import graph_from_keras
from ghnq_tf.graph.layer_rules import UnsupportedLayerError, supported_layer_types
from ghnq_tf.graph.ops import ACTIVATIONS, OPS, PARAM_KINDS
from ghnq_tf.graph.schema import (
    EDGE_SETS,
    GRAPH_SCHEMA_PBTXT,
    NODE_SET,
    PARAM_SET,
    graph_schema,
    graph_tensor_spec,
)
from ghnq_tf.graph.to_tensor import DEFAULT_MAX_DISTANCE, graphs_to_tensor
from ghnq_tf.graph.variables import find_layer, param_variable, param_variables

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_MAX_DISTANCE",
    "EDGE_SETS",
    "GRAPH_SCHEMA_PBTXT",
    "NODE_SET",
    "OPS",
    "PARAM_KINDS",
    "PARAM_SET",
    "ArchGraph",
    "OpNode",
    "ParamRef",
    "UnsupportedLayerError",
    "find_layer",
    "graph_from_keras",
    "graph_schema",
    "graph_tensor_spec",
    "graphs_to_tensor",
    "param_variable",
    "param_variables",
    "supported_layer_types",
]
