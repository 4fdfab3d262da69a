"""ArchGraph → tfgnn.GraphTensor, and ArchGraph serialization."""

import numpy as np
import pytest
import tensorflow_gnn as tfgnn

from ghnq_tf._keras import keras
from ghnq_tf.graph import (
    ArchGraph,
    OpNode,
    graph_from_keras,
    graph_schema,
    graph_tensor_spec,
    graphs_to_tensor,
)

L = keras.layers


def _chain(n):
    """input → conv → conv → ... (n nodes in a line)."""
    nodes = (OpNode("input", "x"),) + tuple(
        OpNode("conv", f"c{i}", (4, 4, 3, 3)) for i in range(1, n)
    )
    return ArchGraph("chain", nodes, tuple((i, i + 1) for i in range(n - 1)), ())


def _small_model(width):
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(width, 3, activation="relu")(x)
    h = L.Add()([h, L.Conv2D(width, 3)(x)])
    return keras.Model(x, L.Dense(10)(L.GlobalAveragePooling2D()(h)))


def test_virtual_edges_follow_shortest_paths():
    g = _chain(5)
    np.testing.assert_array_equal(g.distances(3)[0], [0, 1, 2, 3, 0])
    src, dst, dist = g.virtual_edges(3)
    pairs = {(int(s), int(t)): int(d) for s, t, d in zip(src, dst, dist, strict=True)}
    assert pairs == {
        (0, 2): 2, (1, 3): 2, (2, 4): 2, (0, 3): 3, (1, 4): 3,
        (2, 0): 2, (3, 1): 2, (4, 2): 2, (3, 0): 3, (4, 1): 3,
    }  # fmt: skip


def test_batch_of_graphs_is_one_tensor_with_offsets():
    g1, g2 = graph_from_keras(_small_model(4)), graph_from_keras(_small_model(8))
    gt = graphs_to_tensor([g1, g2], bits=[4, 2])
    ops = gt.node_sets["ops"]
    assert ops.sizes.numpy().tolist() == [g1.num_nodes, g2.num_nodes]
    assert gt.context["bits"].numpy().tolist() == [4, 2]
    fwd = gt.edge_sets["fwd"]
    assert fwd.sizes.numpy().tolist() == [len(g1.edges), len(g2.edges)]
    src = fwd.adjacency.source.numpy()
    assert src[len(g1.edges) :].min() >= g1.num_nodes  # second graph's indices are shifted
    bwd = gt.edge_sets["bwd"]
    np.testing.assert_array_equal(bwd.adjacency.source.numpy(), fwd.adjacency.target.numpy())
    np.testing.assert_array_equal(ops["shape"].numpy()[: g1.num_nodes], g1.node_features()["shape"])
    assert graph_tensor_spec().is_compatible_with(gt.spec)
    tfgnn.check_compatible_with_schema_pb(graphs_to_tensor(g1), graph_schema())
    assert graphs_to_tensor(g1).context["bits"].numpy().tolist() == [32]


def test_bad_arguments():
    g = _chain(3)
    with pytest.raises(ValueError, match="`bits` must be in 2..8"):
        graphs_to_tensor(g, bits=9)
    with pytest.raises(ValueError, match="one value per graph"):
        graphs_to_tensor([g, g], bits=[4])
    with pytest.raises(ValueError, match="non-empty sequence of ArchGraph"):
        graphs_to_tensor([])
    with pytest.raises(ValueError, match="max_distance"):
        graphs_to_tensor(g, max_distance=0)


def test_json_round_trip_is_exact():
    g = graph_from_keras(_small_model(4))
    again = ArchGraph.from_json(g.to_json())
    assert again == g
    with pytest.raises(ValueError, match="format_version"):
        ArchGraph.from_dict({**g.to_dict(), "format_version": 99})


def test_params_node_set_describes_each_parameter():
    from ghnq_tf.graph import PARAM_KINDS

    model = _small_model(4)
    g = graph_from_keras(model)
    gt = graphs_to_tensor([g, g])
    params = gt.node_sets["params"]
    assert params.sizes.numpy().tolist() == [len(g.params)] * 2
    kinds = [PARAM_KINDS[k] for k in params["kind"].numpy()[: len(g.params)]]
    assert kinds == ["conv", "bias", "conv", "bias", "classifier", "classifier_bias"]
    shapes = params["shape"].numpy()[: len(g.params)].tolist()
    assert shapes[0] == [3, 3, 3, 4] and shapes[4] == [0, 0, 4, 10] and shapes[5] == [0, 0, 0, 10]
    assert params["fan_in"].numpy()[:6].tolist() == [27, 1, 27, 1, 4, 1]
    owner = gt.edge_sets["owner"].adjacency
    # Parameter j of the second model belongs to node (its node + first model's node count).
    expected = [p.node for p in g.params] + [p.node + g.num_nodes for p in g.params]
    assert owner.source.numpy().tolist() == expected
    assert owner.target.numpy().tolist() == list(range(2 * len(g.params)))
