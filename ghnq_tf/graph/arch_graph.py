"""`ArchGraph`: a plain, serializable description of a CNN's computation graph."""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from typing import Any

import numpy as np

from ghnq_tf.graph.ops import ACTIVATION_IDS, OP_IDS, PARAM_KIND_IDS

_FORMAT_VERSION = 1


# `ParamRef.attr` values of weight matrices (the rest are 1-D: bias, gamma, beta).
KERNEL_ATTRS = ("kernel", "depthwise_kernel", "pointwise_kernel")


@dataclasses.dataclass(frozen=True)
class ParamRef:
    """One parameter tensor of the model, predicted by the GHN.

    Attributes:
        layer: path of the owning layer: its name, preceded by the names of
            the enclosing models in nested models (`("block", "conv")`).
        attr: the weight's role in its layer: `kernel`, `bias`,
            `depthwise_kernel`, `pointwise_kernel`, `gamma` or `beta`.
        name: the variable's name, e.g. `conv1/kernel:0`.
        shape: the variable's shape, in Keras layout.
        node: index of the graph node that predicts it (first call, for
            shared layers).
    """

    layer: tuple[str, ...]
    attr: str
    name: str
    shape: tuple[int, ...]
    node: int


@dataclasses.dataclass(frozen=True)
class OpNode:
    """One node of the graph.

    Attributes:
        op: an entry of `ghnq_tf.graph.OPS`.
        layer: path of the Keras layer the node comes from (see `ParamRef`).
        shape: parameter shape as (out, in, kh, kw); 1-D parameters are
            (c, 1, 1, 1) and parameter-free ops (0, 0, 0, 0).
        stride: spatial stride (conv and pools), else 1.
        dilation: dilation rate (conv), else 1.
        groups: convolution groups (a depthwise conv has groups == channels).
        activation: activation applied to this node's output, after folding.
        params: indices into `ArchGraph.params` of the tensors this node holds.
        is_output: whether this node produces a model output.
        folded: class names of the layers folded into this node's output.
    """

    op: str
    layer: tuple[str, ...]
    shape: tuple[int, int, int, int] = (0, 0, 0, 0)
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    activation: str = "linear"
    params: tuple[int, ...] = ()
    is_output: bool = False
    folded: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ArchGraph:
    """A model's computation graph, with no TensorFlow objects in it.

    Example:
        g = gq.graph_from_keras(model)
        g.num_nodes, len(g.params)
        gq.ArchGraph.from_json(g.to_json()) == g  # True

    Attributes:
        name: the model's name.
        nodes: the nodes, in topological order.
        edges: directed data-flow edges as (source, target) node indices.
        params: every trainable parameter tensor of the model, once each.
        input_shape: the model's input shape without the batch dimension.
    """

    name: str
    nodes: tuple[OpNode, ...]
    edges: tuple[tuple[int, int], ...]
    params: tuple[ParamRef, ...]
    input_shape: tuple[int | None, ...] = ()

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    @property
    def num_weights(self) -> int:
        """Total number of scalar parameters the graph describes."""
        return int(sum(np.prod(p.shape) for p in self.params))

    def node_features(self) -> dict[str, np.ndarray]:
        """Per-node features as int32 arrays (the `ops` node set's features)."""
        nodes = self.nodes
        return {
            "op": np.array([OP_IDS[n.op] for n in nodes], np.int32),
            "shape": np.array([n.shape for n in nodes], np.int32).reshape(-1, 4),
            "stride": np.array([n.stride for n in nodes], np.int32),
            "dilation": np.array([n.dilation for n in nodes], np.int32),
            "groups": np.array([n.groups for n in nodes], np.int32),
            "activation": np.array([ACTIVATION_IDS[n.activation] for n in nodes], np.int32),
            "is_output": np.array([int(n.is_output) for n in nodes], np.int32),
            **dict(zip(("depth", "height"), self.depths(), strict=True)),
        }

    def depths(self) -> tuple[np.ndarray, np.ndarray]:
        """Each node's position: longest path from an input and to an output.

        Message passing alone cannot tell repeated cells apart (their
        neighbourhoods look alike), so the GHN also embeds where a node sits.

        Returns:
            (depth, height), int32 arrays of length `num_nodes`.
        """
        n = self.num_nodes
        depth = np.zeros(n, np.int32)
        height = np.zeros(n, np.int32)
        edges = sorted(self.edges)  # nodes are in topological order
        for src, dst in edges:
            depth[dst] = max(depth[dst], depth[src] + 1)
        for src, dst in reversed(edges):
            height[src] = max(height[src], height[dst] + 1)
        return depth, height

    def param_kind(self, param: ParamRef) -> str:
        """The decoder head that predicts `param` (an entry of PARAM_KINDS)."""
        output_layers = {n.layer for n in self.nodes if n.is_output}
        classifier = param.layer in output_layers
        if param.attr in ("gamma", "beta"):
            return param.attr
        if param.attr == "bias":
            return "classifier_bias" if classifier else "bias"
        if classifier:
            return "classifier"
        if param.attr == "depthwise_kernel":
            return "dw_conv"
        return "linear" if self.nodes[param.node].op == "linear" else "conv"

    def param_features(self) -> dict[str, np.ndarray]:
        """Per-parameter features (the `params` node set's features).

        `shape` is the variable's Keras shape left-padded with zeros to rank 4
        (a Dense kernel (in, out) is (0, 0, in, out), a bias (c,) is
        (0, 0, 0, c)); `fan_in` is the number of inputs each output sums over.
        """
        kinds, shapes, fan_ins = [], [], []
        for p in self.params:
            kind = self.param_kind(p)
            kinds.append(PARAM_KIND_IDS[kind])
            shapes.append((0,) * (4 - len(p.shape)) + tuple(p.shape))
            if kind == "dw_conv":
                fan_ins.append(int(p.shape[0] * p.shape[1]))
            elif len(p.shape) > 1:
                fan_ins.append(int(np.prod(p.shape[:-1])))
            else:
                fan_ins.append(1)
        count = len(self.params)
        return {
            "kind": np.array(kinds, np.int32).reshape(count),
            "shape": np.array(shapes, np.int32).reshape(count, 4),
            "fan_in": np.array(fan_ins, np.int32).reshape(count),
        }

    def distances(self, max_distance: int) -> np.ndarray:
        """Shortest-path distances along data flow, up to `max_distance`.

        Returns:
            int32 array (N, N) where entry (i, j) is the number of edges on the
            shortest directed path from node i to node j, or 0 if there is none
            within `max_distance` (and on the diagonal).
        """
        n = self.num_nodes
        successors: list[list[int]] = [[] for _ in range(n)]
        for src, dst in self.edges:
            successors[src].append(dst)
        dist = np.zeros((n, n), np.int32)
        for start in range(n):
            seen = {start}
            frontier = deque([(start, 0)])
            while frontier:
                node, d = frontier.popleft()
                if d == max_distance:
                    continue
                for nxt in successors[node]:
                    if nxt not in seen:
                        seen.add(nxt)
                        dist[start, nxt] = d + 1
                        frontier.append((nxt, d + 1))
        return dist

    def virtual_edges(self, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """GHN-2 virtual edges: node pairs 2..`max_distance` apart, both ways.

        Returns:
            (sources, targets, distances), int32 arrays of equal length.
        """
        dist = self.distances(max_distance)
        src, dst = np.nonzero(dist >= 2)
        d = dist[src, dst]
        sources = np.concatenate([src, dst]).astype(np.int32)
        targets = np.concatenate([dst, src]).astype(np.int32)
        return sources, targets, np.concatenate([d, d]).astype(np.int32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": _FORMAT_VERSION,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "nodes": [dataclasses.asdict(n) for n in self.nodes],
            "edges": [list(e) for e in self.edges],
            "params": [dataclasses.asdict(p) for p in self.params],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchGraph:
        version = data.get("format_version")
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"Unsupported ArchGraph format_version={version!r}; this version "
                f"of ghnq_tf reads format_version={_FORMAT_VERSION}."
            )
        nodes = tuple(
            OpNode(
                **{
                    **n,
                    "layer": tuple(n["layer"]),
                    "shape": tuple(n["shape"]),
                    "params": tuple(n["params"]),
                    "folded": tuple(n["folded"]),
                }
            )
            for n in data["nodes"]
        )
        params = tuple(
            ParamRef(**{**p, "layer": tuple(p["layer"]), "shape": tuple(p["shape"])})
            for p in data["params"]
        )
        return cls(
            name=data["name"],
            nodes=nodes,
            edges=tuple(tuple(e) for e in data["edges"]),
            params=params,
            input_shape=tuple(data["input_shape"]),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ArchGraph:
        return cls.from_dict(json.loads(text))
