"""Message passing over the forward, backward and virtual edges.

By default, TF-GNN's parallel `GraphUpdate` stack: every node updated at
once each round, one convolution per edge set, a residual next state, then
layer norm. `conv="sweep"` is GHN-2's order instead: a gated sweep through
the graph, level by level, forward then backward
(`ghnq_tf.hypernet.sweep`).
"""

from __future__ import annotations

from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.schema import NODE_SET
from ghnq_tf.hypernet.sweep import GraphSweep

CONV_TYPES = ("simple", "gatv2", "sweep")


def _convolution(kind: str, hidden: int, edge_feature: str | None) -> keras.layers.Layer:
    import tensorflow_gnn as tfgnn

    if kind == "gatv2":
        from tensorflow_gnn.models.gat_v2 import GATv2Conv

        return GATv2Conv(
            num_heads=4,
            per_head_channels=hidden // 4,
            receiver_tag=tfgnn.TARGET,
            sender_edge_feature=edge_feature,
        )
    return tfgnn.keras.layers.SimpleConv(
        keras.layers.Dense(hidden, activation="relu"),
        "mean",
        receiver_tag=tfgnn.TARGET,
        sender_edge_feature=edge_feature,
    )


@keras.utils.register_keras_serializable(package="ghnq_tf")
class MessagePassing(keras.layers.Layer):
    """`num_layers` rounds of TF-GNN message passing on the `ops` node set.

    Example:
        mp = MessagePassing(hidden=64, num_layers=3)
        h = mp(graph_tensor, node_states)  # [num_nodes, 64] → [num_nodes, 64]

    Args:
        hidden: width of the node states.
        num_layers: number of message-passing rounds.
        conv: `"simple"` (`tfgnn.keras.layers.SimpleConv`, mean of MLP
            messages), `"gatv2"` (`GATv2Conv`, 4 heads), or `"sweep"`
            (GHN-2's gated sweep, `num_layers` forward-and-backward passes;
            see `ghnq_tf.hypernet.sweep`).
        max_distance: the largest virtual-edge distance that gets its own
            embedding (larger distances share the last one).
    """

    def __init__(
        self,
        *,
        hidden: int = 64,
        num_layers: int = 3,
        conv: str = "simple",
        max_distance: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if conv not in CONV_TYPES:
            raise ValueError(f"`conv` must be one of {CONV_TYPES}. Received: conv={conv!r}")
        if num_layers < 0:
            raise ValueError(f"`num_layers` must be >= 0. Received: num_layers={num_layers}")
        self.hidden = hidden
        self.num_layers = num_layers
        self.conv = conv
        self.max_distance = max_distance
        if conv == "sweep":
            if num_layers:
                self.sweep = GraphSweep(hidden=hidden, traversals=num_layers, name="sweep")
            return
        self.distance = keras.layers.Embedding(max_distance + 1, hidden // 4, name="distance")
        self.rounds = [self._round(i) for i in range(num_layers)]
        self.norms = [keras.layers.LayerNormalization(name=f"norm_{i}") for i in range(num_layers)]

    def _round(self, index: int) -> keras.layers.Layer:
        import tensorflow_gnn as tfgnn

        layers = tfgnn.keras.layers
        return layers.GraphUpdate(
            node_sets={
                NODE_SET: layers.NodeSetUpdate(
                    {
                        "fwd": _convolution(self.conv, self.hidden, None),
                        "bwd": _convolution(self.conv, self.hidden, None),
                        "virtual": _convolution(self.conv, self.hidden, tfgnn.HIDDEN_STATE),
                    },
                    layers.ResidualNextState(keras.layers.Dense(self.hidden)),
                )
            },
            name=f"round_{index}",
        )

    def call(self, graph: Any, states: tf.Tensor) -> tf.Tensor:
        import tensorflow_gnn as tfgnn

        if self.conv == "sweep":
            return self.sweep(graph, states) if self.num_layers else states
        distance = graph.edge_sets["virtual"]["distance"]
        graph = graph.replace_features(
            node_sets={NODE_SET: {tfgnn.HIDDEN_STATE: states}},
            edge_sets={
                "virtual": {
                    tfgnn.HIDDEN_STATE: self.distance(tf.minimum(distance, self.max_distance))
                }
            },
        )
        for update, norm in zip(self.rounds, self.norms, strict=True):
            graph = update(graph)
            states = norm(graph.node_sets[NODE_SET][tfgnn.HIDDEN_STATE])
            graph = graph.replace_features(node_sets={NODE_SET: {tfgnn.HIDDEN_STATE: states}})
        return states

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "hidden": self.hidden,
            "num_layers": self.num_layers,
            "conv": self.conv,
            "max_distance": self.max_distance,
        }
