"""GHN-2's gated sweep: level by level is GHN-2's node-by-node order."""

import numpy as np
import pytest

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph import graph_from_keras, graphs_to_tensor
from ghnq_tf.graph.schema import NODE_SET
from ghnq_tf.hypernet import GHN
from ghnq_tf.hypernet.message_passing import MessagePassing
from ghnq_tf.hypernet.sweep import GraphSweep

L = keras.layers


def _net(width=8, cells=2):
    x = keras.Input((16, 16, 3))
    h = L.Conv2D(width, 3, padding="same")(x)
    for _ in range(cells):
        branch = L.BatchNormalization()(L.Conv2D(width, 3, padding="same")(L.ReLU()(h)))
        h = L.Add()([h, L.SeparableConv2D(width, 3, padding="same")(branch)])
    return keras.Model(x, L.Dense(10)(L.GlobalAveragePooling2D()(h)))


def _node_by_node(sweep, graph, states):
    """GHN-2's order: one node at a time, forward by depth, then backward by height."""
    ops = graph.node_sets[NODE_SET]
    fwd, virtual = graph.edge_sets["fwd"].adjacency, graph.edge_sets["virtual"]
    fwd_edges = list(zip(fwd.source.numpy(), fwd.target.numpy(), strict=True))
    virtual_edges = list(
        zip(
            virtual.adjacency.source.numpy(),
            virtual.adjacency.target.numpy(),
            virtual["distance"].numpy(),
            strict=True,
        )
    )
    states = states.numpy().copy()
    passes = (
        (ops["depth"].numpy(), fwd_edges),
        (ops["height"].numpy(), [(t, s) for s, t in fwd_edges]),
    )
    for level, data_edges in passes:
        for node in np.argsort(level, kind="stable"):
            message = np.zeros([1, sweep.hidden], np.float32)
            for source, target in data_edges:
                if target == node and level[source] < level[node]:
                    message += sweep.message(states[source][None]).numpy()
            for source, target, distance in virtual_edges:
                if target == node and level[source] < level[node]:
                    message += sweep.virtual_message(states[source][None]).numpy() / distance
            updated, _ = sweep.gru(tf.constant(message), [tf.constant(states[node][None])])
            states[node] = updated.numpy()[0]
    return sweep.norm(states).numpy()


def test_level_by_level_is_node_by_node():
    keras.utils.set_random_seed(0)
    graphs = [graph_from_keras(_net()), graph_from_keras(_net(16, cells=3))]
    graph = graphs_to_tensor(graphs, bits=4)
    states = tf.random.normal([int(graph.node_sets[NODE_SET].total_size), 16])
    sweep = GraphSweep(hidden=16, traversals=1)
    swept = sweep(graph, states)
    np.testing.assert_allclose(swept.numpy(), _node_by_node(sweep, graph, states), atol=2e-5)


def test_a_forward_pass_carries_the_input_to_the_output():
    """One traversal reaches every node from the first conv; one parallel round does not."""
    keras.utils.set_random_seed(0)
    graph = graphs_to_tensor([graph_from_keras(_net(cells=6))], bits=4, max_distance=2)
    states = tf.random.normal([int(graph.node_sets[NODE_SET].total_size), 16])
    first = 3.0 * tf.one_hot(0, tf.shape(states)[0])[:, None]

    def moved(layer):
        change = layer(graph, states + first) - layer(graph, states)
        return tf.reduce_max(tf.abs(change[1:]), axis=1).numpy()

    assert (moved(GraphSweep(hidden=16, traversals=1)) > 0).all()
    one_round = MessagePassing(hidden=16, num_layers=1, max_distance=2)
    assert (moved(one_round) == 0).sum() > 20  # beyond 2 hops, untouched


def test_a_sweep_ghn_trains_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    ghn = GHN(hidden=16, num_layers=1, conv="sweep", rank=0, basis=4, channels=16).build_all()
    graph = graphs_to_tensor([graph_from_keras(_net())], bits=4)
    sweep = ghn.message_passing.sweep
    with tf.GradientTape() as tape:
        loss = tf.add_n([tf.reduce_sum(tf.square(t)) for t in ghn(graph)])
    grads = tape.gradient(loss, sweep.trainable_variables)
    assert len(grads) == 13  # two 2-layer MLPs, the GRU's 3, the norm's 2
    names = [v.name for v in sweep.trainable_variables]
    assert len(set(names)) == 13
    assert all(name.startswith("message_passing/sweep/") for name in names), names
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    ghn.save(str(tmp_path / "sweep.keras"))
    loaded = GHN.load(str(tmp_path / "sweep.keras"))
    assert loaded.get_config()["conv"] == "sweep"
    for a, b in zip(ghn(graph), loaded(graph), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_bad_traversals_are_rejected():
    with pytest.raises(ValueError, match="`traversals` must be >= 1. Received: traversals=0"):
        GraphSweep(hidden=8, traversals=0)
