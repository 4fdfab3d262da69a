"""A batch of `ArchGraph`s → one `tfgnn.GraphTensor` (a component per model)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ghnq_tf._keras import tf
from ghnq_tf.graph.arch_graph import ArchGraph
from ghnq_tf.graph.schema import FLOAT_BITS, NODE_SET, PARAM_SET

DEFAULT_MAX_DISTANCE = 50  # GHN-2's virtual-edge cut-off


@functools.lru_cache(maxsize=4096)
def _graph_arrays(graph: ArchGraph, max_distance: int) -> dict[str, np.ndarray]:
    """Per-graph numpy pieces, cached: virtual edges cost O(N·E) to find."""
    arrays = {f"node/{k}": v for k, v in graph.node_features().items()}
    arrays.update({f"param/{k}": v for k, v in graph.param_features().items()})
    arrays["owner/source"] = np.array([p.node for p in graph.params], np.int32)
    arrays["owner/target"] = np.arange(len(graph.params), dtype=np.int32)
    edges = np.array(graph.edges, np.int32).reshape(-1, 2)
    arrays["fwd/source"], arrays["fwd/target"] = edges[:, 0], edges[:, 1]
    src, dst, dist = graph.virtual_edges(max_distance)
    arrays["virtual/source"], arrays["virtual/target"], arrays["virtual/distance"] = src, dst, dist
    return arrays


def _check_bits(bits: int | Sequence[int] | None, count: int) -> np.ndarray:
    if bits is None:
        return np.full([count], FLOAT_BITS, np.int32)
    values = [bits] * count if isinstance(bits, (int, np.integer)) else list(bits)
    if len(values) != count:
        raise ValueError(
            f"`bits` must be an int or one value per graph ({count}). Received: bits={bits!r}"
        )
    for value in values:
        if not isinstance(value, (int, np.integer)) or not (2 <= value <= 8 or value == FLOAT_BITS):
            raise ValueError(
                f"`bits` must be in 2..8 (or {FLOAT_BITS} for float). Received: bits={bits!r}"
            )
    return np.asarray(values, np.int32)


def graphs_to_tensor(
    graphs: ArchGraph | Sequence[ArchGraph],
    *,
    bits: int | Sequence[int] | None = None,
    max_distance: int = DEFAULT_MAX_DISTANCE,
):
    """Packs architecture graphs into one `tfgnn.GraphTensor`.

    The result has one graph component per graph and follows
    `ghnq_tf.graph.graph_schema()`: node sets `ops` and `params`, edge sets
    `fwd`, `bwd`, `virtual` (with a `distance` feature) and `owner`, context
    feature `bits`. Nodes of graph i occupy a contiguous block, in
    `graphs[i].nodes` order; its parameters likewise, in `graphs[i].params`
    order.

    Example:
        gt = gq.graphs_to_tensor([gq.graph_from_keras(m) for m in models], bits=4)
        gt.node_sets["ops"].sizes  # nodes per model

    Args:
        graphs: one `ArchGraph` or a sequence of them.
        bits: target bitwidth, one for all or one per graph; None = float (32).
        max_distance: largest shortest-path distance joined by a virtual edge.

    Returns:
        A scalar `tfgnn.GraphTensor`.
    """
    import tensorflow_gnn as tfgnn

    if isinstance(graphs, ArchGraph):
        graphs = [graphs]
    graphs = list(graphs)
    if not graphs or not all(isinstance(g, ArchGraph) for g in graphs):
        raise ValueError(
            "`graphs` must be a non-empty sequence of ArchGraph (see gq.graph_from_keras). "
            f"Received: graphs={graphs!r:.200}"
        )
    if not isinstance(max_distance, int) or max_distance < 1:
        raise ValueError(
            f"`max_distance` must be an int >= 1. Received: max_distance={max_distance}"
        )
    bits_values = _check_bits(bits, len(graphs))
    pieces = [_graph_arrays(g, max_distance) for g in graphs]
    sizes = np.array([g.num_nodes for g in graphs], np.int32)
    param_sizes = np.array([len(g.params) for g in graphs], np.int32)
    offsets = {
        NODE_SET: np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32),
        PARAM_SET: np.concatenate([[0], np.cumsum(param_sizes)[:-1]]).astype(np.int32),
    }

    def cat(key: str, shift: str | None = None) -> tf.Tensor:
        shifts = offsets[shift] if shift else np.zeros(len(pieces), np.int32)
        return tf.constant(
            np.concatenate([p[key] + o for p, o in zip(pieces, shifts, strict=True)])
        )

    def edge_count(key: str) -> tf.Tensor:
        return tf.constant([len(p[key]) for p in pieces], tf.int32)

    node_features = {key.split("/", 1)[1]: cat(key) for key in pieces[0] if key.startswith("node/")}
    param_features = {
        key.split("/", 1)[1]: cat(key) for key in pieces[0] if key.startswith("param/")
    }
    fwd_src, fwd_dst = cat("fwd/source", NODE_SET), cat("fwd/target", NODE_SET)
    edge_sets = {
        "fwd": tfgnn.EdgeSet.from_fields(
            sizes=edge_count("fwd/source"),
            adjacency=tfgnn.Adjacency.from_indices((NODE_SET, fwd_src), (NODE_SET, fwd_dst)),
        ),
        "bwd": tfgnn.EdgeSet.from_fields(
            sizes=edge_count("fwd/source"),
            adjacency=tfgnn.Adjacency.from_indices((NODE_SET, fwd_dst), (NODE_SET, fwd_src)),
        ),
        "virtual": tfgnn.EdgeSet.from_fields(
            sizes=edge_count("virtual/source"),
            adjacency=tfgnn.Adjacency.from_indices(
                (NODE_SET, cat("virtual/source", NODE_SET)),
                (NODE_SET, cat("virtual/target", NODE_SET)),
            ),
            features={"distance": cat("virtual/distance")},
        ),
        "owner": tfgnn.EdgeSet.from_fields(
            sizes=tf.constant(param_sizes),
            adjacency=tfgnn.Adjacency.from_indices(
                (NODE_SET, cat("owner/source", NODE_SET)),
                (PARAM_SET, cat("owner/target", PARAM_SET)),
            ),
        ),
    }
    return tfgnn.GraphTensor.from_pieces(
        context=tfgnn.Context.from_fields(
            sizes=tf.ones([len(graphs)], tf.int32), features={"bits": tf.constant(bits_values)}
        ),
        node_sets={
            NODE_SET: tfgnn.NodeSet.from_fields(sizes=tf.constant(sizes), features=node_features),
            PARAM_SET: tfgnn.NodeSet.from_fields(
                sizes=tf.constant(param_sizes), features=param_features
            ),
        },
        edge_sets=edge_sets,
    )
