"""GHN-2's message passing: a gated sweep through the graph, level by level.

`MessagePassing(conv="sweep")` updates nodes in the order the network
computes them, as GHN-2's gated GNN does, instead of all at once: each
traversal first goes forward, a node's state updated by a GRU from the sum
of an MLP of its data-flow predecessors' states (already updated in this
pass) and, weighted by 1/distance, of another MLP of its virtual-edge
predecessors' states; then backward, from the outputs, the same with the
successors. A node's state so depends on the whole path before (and after)
it, as the tensor it describes does, where `num_layers` parallel rounds of
neighbour means see 3 hops plus an average of the rest.

GHN-2 visits one node at a time. Here the nodes of one level (longest path
from an input going forward, to an output going backward) are updated
together: their predecessors all sit at lower levels, so this is the same
update in as many steps as the graph is deep.
"""

from __future__ import annotations

from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.schema import NODE_SET


def _edges_by_level(
    source: tf.Tensor, target: tf.Tensor, weight: tf.Tensor, level: tf.Tensor, levels: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """The edges into each level: sorted by their target's level, with offsets."""
    target_level = tf.gather(level, target)
    keep = target_level > tf.gather(level, source)  # forward in this pass's order only
    source, target = tf.boolean_mask(source, keep), tf.boolean_mask(target, keep)
    weight, target_level = tf.boolean_mask(weight, keep), tf.boolean_mask(target_level, keep)
    order = tf.argsort(target_level, stable=True)
    counts = tf.math.bincount(target_level, minlength=levels, maxlength=levels)
    offsets = tf.concat([[0], tf.cumsum(counts)], axis=0)
    return tf.gather(source, order), tf.gather(target, order), tf.gather(weight, order), offsets


@keras.utils.register_keras_serializable(package="ghnq_tf")
class GraphSweep(keras.layers.Layer):
    """`traversals` forward-then-backward gated sweeps over the `ops` node set.

    Example:
        sweep = GraphSweep(hidden=16, traversals=1)
        h = sweep(graph_tensor, node_states)  # [num_nodes, 16] → [num_nodes, 16]

    Args:
        hidden: width of the node states.
        traversals: forward-and-backward passes (GHN-2: 1).
    """

    def __init__(self, *, hidden: int = 64, traversals: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if traversals < 1:
            raise ValueError(f"`traversals` must be >= 1. Received: traversals={traversals}")
        self.hidden = hidden
        self.traversals = traversals

        def mlp(name: str) -> keras.Sequential:
            return keras.Sequential(
                [
                    keras.layers.Dense(hidden, activation="relu", name=f"{name}_hidden"),
                    keras.layers.Dense(hidden, name=f"{name}_out"),
                ],
                name=name,
            )

        self.message = mlp("message")
        self.virtual_message = mlp("virtual_message")
        self.gru = keras.layers.GRUCell(hidden, name="gru")  # shared by every node, as GHN-2's
        self.norm = keras.layers.LayerNormalization(name="norm")

    def build(self, input_shape: Any) -> None:
        # Each weight is built in its layer's name scope (`.../sweep/gru/kernel:0`,
        # `.../sweep/message/message_hidden/kernel:0`), not as a bare `kernel:0`.
        for mlp in (self.message, self.virtual_message):
            with tf.name_scope(mlp.name):
                for dense in mlp.layers:
                    with tf.name_scope(dense.name):
                        dense.build((None, self.hidden))
            mlp.build((None, self.hidden))  # its layers are built: no new weights
        for layer in (self.gru, self.norm):
            with tf.name_scope(layer.name):
                layer.build((None, self.hidden))
        super().build(input_shape)

    def _pass(self, states: tf.Tensor, level: tf.Tensor, edges: list[tuple]) -> tf.Tensor:
        """One pass: the nodes of each level, in increasing `level`, updated by the GRU."""
        levels = tf.reduce_max(level) + 1
        nodes = tf.argsort(level, stable=True)
        node_offsets = tf.concat(
            [[0], tf.cumsum(tf.math.bincount(level, minlength=levels, maxlength=levels))], axis=0
        )
        sorted_edges = [
            (*_edges_by_level(source, target, weight, level, levels), mlp)
            for source, target, weight, mlp in edges
        ]
        # Position of each node within its level, for summing the messages into it.
        rank_in_level = tf.scatter_nd(
            nodes[:, None],
            tf.range(tf.size(nodes)) - tf.gather(node_offsets, tf.gather(level, nodes)),
            tf.shape(level),
        )

        def step(index: tf.Tensor, states: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            members = nodes[node_offsets[index] : node_offsets[index + 1]]
            message = tf.zeros([tf.size(members), self.hidden], states.dtype)
            for source, target, weight, offsets, mlp in sorted_edges:
                start, stop = offsets[index], offsets[index + 1]
                sent = mlp(tf.gather(states, source[start:stop])) * weight[start:stop, None]
                local = tf.gather(rank_in_level, target[start:stop])
                message += tf.math.unsorted_segment_sum(sent, local, tf.size(members))
            updated, _ = self.gru(message, [tf.gather(states, members)])
            return index + 1, tf.tensor_scatter_nd_update(states, members[:, None], updated)

        _, states = tf.while_loop(
            lambda index, _: index < levels,
            step,
            (tf.constant(0), states),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, self.hidden])),
        )
        return states

    def call(self, graph: Any, states: tf.Tensor) -> tf.Tensor:
        ops = graph.node_sets[NODE_SET]
        fwd = graph.edge_sets["fwd"].adjacency
        virtual = graph.edge_sets["virtual"]
        ones = tf.ones_like(fwd.source, states.dtype)
        inverse_distance = 1.0 / tf.cast(virtual["distance"], states.dtype)
        v_source, v_target = virtual.adjacency.source, virtual.adjacency.target
        forward = [
            (fwd.source, fwd.target, ones, self.message),
            (v_source, v_target, inverse_distance, self.virtual_message),
        ]
        backward = [
            (fwd.target, fwd.source, ones, self.message),
            (v_source, v_target, inverse_distance, self.virtual_message),
        ]
        for _ in range(self.traversals):
            states = self._pass(states, ops["depth"], forward)
            states = self._pass(states, ops["height"], backward)
        return self.norm(states)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "hidden": self.hidden, "traversals": self.traversals}
