"""`GHN`: the graph hypernetwork, a `tf_keras.Model` over `tfgnn.GraphTensor`s."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.arch_graph import ArchGraph
from ghnq_tf.graph.schema import NODE_SET, PARAM_SET
from ghnq_tf.graph.to_tensor import DEFAULT_MAX_DISTANCE, graphs_to_tensor
from ghnq_tf.hypernet.decoder import CLASSIFIER_BETA, DecodePlan, ParamDecoder, make_plan
from ghnq_tf.hypernet.encoder import NodeEncoder
from ghnq_tf.hypernet.message_passing import MessagePassing


def decode_plan(graph: Any) -> DecodePlan:
    """The decode plan of a GraphTensor's `params` node set (needs eager values)."""
    params = graph.node_sets[PARAM_SET]
    try:
        values = [params[f].numpy() for f in ("kind", "shape", "fan_in")]
    except AttributeError as err:
        raise RuntimeError(
            "GHN reads each parameter's shape from the GraphTensor, so it must be "
            "called eagerly (not inside tf.function or a traced train_step). Run "
            "the step with `run_eagerly=True`, as GHNTrainer does."
        ) from err
    return make_plan(*values)


def _centred_per_network(graph: Any, states: tf.Tensor) -> tf.Tensor:
    """Node states less their network's mean, at unit RMS over the network."""
    import tensorflow_gnn as tfgnn

    def network_mean(values: tf.Tensor) -> tf.Tensor:
        pooled = tfgnn.pool_nodes_to_context(graph, NODE_SET, "mean", feature_value=values)
        return tfgnn.broadcast_context_to_nodes(graph, NODE_SET, feature_value=pooled)

    centred = states - network_mean(states)
    power = network_mean(tf.reduce_mean(tf.square(centred), axis=1, keepdims=True))
    return centred * tf.math.rsqrt(power + 1e-6)


def _unit_rms(states: tf.Tensor) -> tf.Tensor:
    """Each node's state scaled to unit RMS over its features."""
    return states * tf.math.rsqrt(tf.reduce_mean(tf.square(states), axis=1, keepdims=True) + 1e-12)


@keras.utils.register_keras_serializable(package="ghnq_tf")
class GHN(keras.Model):
    """Graph hypernetwork: predicts every parameter of the networks in a graph.

    Input: a `tfgnn.GraphTensor` from `gq.graphs_to_tensor` holding one or
    many architectures (the context feature `bits` tells the target
    bitwidth). Output: one tensor per parameter of every architecture, in
    `ArchGraph.params` order, graph after graph, each with its variable's
    exact Keras shape.

    Example:
        >>> ghn = gq.GHN(hidden=64, num_layers=3)
        >>> graphs = [gq.graph_from_keras(m) for m in models]
        >>> tensors = ghn(gq.graphs_to_tensor(graphs, bits=4))
        >>> per_model = ghn.predict_params(graphs, bits=4)  # split per model

    Args:
        hidden: width of node states.
        num_layers: rounds of message passing.
        conv: TF-GNN convolution, `"simple"` or `"gatv2"`, or `"sweep"`:
            GHN-2's gated sweep through the graph in the order the network
            computes (`num_layers` forward-and-backward passes).
        max_distance: virtual-edge cut-off the GHN is used with.
        channels: channel extent of the decoder's maximal tensor.
        kernel_size: spatial extent of the decoder's maximal tensor.
        rank: rank of each kernel's node-specific CP term.
        basis: learned channel matrices per kernel kind that nodes mix.
        templates: learned whole kernel tensors per kernel kind that nodes mix.
        bank_stddev: initial scale of the decoder's banks and templates (sets
            their relative learning speed; with `rank=0`, predictions at
            initialization do not depend on it).
        beta: fan-in scaling numerator for hidden kernels.
        classifier_beta: fan-in scaling numerator for the classifier's kernel.
        roll_pointwise: 1×1 and dense kernels mix the decoder's bank with the
            coefficients of every position of the maximal tensor (see
            `ghnq_tf.hypernet.decoder`); False: the centre's only.
        orthogonal_kernels: conv and hidden dense kernels come out with
            orthonormal filters (their approximate polar factor; see
            `ghnq_tf.hypernet.decoder`).
        centre_coefficients: fraction of each network's mean conv, depthwise
            and hidden dense coefficients the decoder removes, so that a
            network's layers cannot all get one kernel (see
            `ghnq_tf.hypernet.decoder`); 0: none.
        centre_states: the node states reaching the decoder lose their
            network's mean state and are scaled to unit RMS over the
            network's nodes, so what tells a network's nodes apart is not
            small beside what they share (`research/depth_collapse.py`:
            trained GHNs' node states have a mean cosine near 1).
        skip_states: the decoder reads each node's state after message
            passing plus its own encoder state scaled to unit RMS (a skip
            around message passing, as the last round's layer norm leaves
            unit RMS too), so what tells a node apart from its network's
            other nodes reaches the decoder however alike the rounds make
            the states.
    """

    def __init__(
        self,
        *,
        hidden: int = 64,
        num_layers: int = 3,
        conv: str = "simple",
        max_distance: int = DEFAULT_MAX_DISTANCE,
        channels: int = 64,
        kernel_size: int = 7,
        rank: int = 16,
        basis: int = 32,
        templates: int = 0,
        bank_stddev: float = 1.0,
        beta: float = 1.0,
        classifier_beta: float = CLASSIFIER_BETA,
        roll_pointwise: bool = False,
        orthogonal_kernels: bool = False,
        centre_coefficients: float = 0.0,
        centre_states: bool = False,
        skip_states: bool = False,
        name: str = "ghn",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.hidden = hidden
        self.num_layers = num_layers
        self.conv = conv
        self.max_distance = max_distance
        self.channels = channels
        self.kernel_size = kernel_size
        self.rank = rank
        self.basis = basis
        self.templates = templates
        self.bank_stddev = bank_stddev
        self.beta = beta
        self.classifier_beta = classifier_beta
        self.roll_pointwise = bool(roll_pointwise)
        self.orthogonal_kernels = bool(orthogonal_kernels)
        self.centre_coefficients = float(centre_coefficients)
        self.centre_states = bool(centre_states)
        self.skip_states = bool(skip_states)
        self.encoder = NodeEncoder(hidden=hidden, name="encoder")
        self.message_passing = MessagePassing(
            hidden=hidden,
            num_layers=num_layers,
            conv=conv,
            max_distance=max_distance,
            name="message_passing",
        )
        self.decoder = ParamDecoder(
            hidden=hidden,
            channels=channels,
            kernel_size=kernel_size,
            rank=rank,
            basis=basis,
            templates=templates,
            bank_stddev=bank_stddev,
            beta=beta,
            classifier_beta=classifier_beta,
            roll_pointwise=roll_pointwise,
            orthogonal_kernels=orthogonal_kernels,
            centre_coefficients=centre_coefficients,
            name="decoder",
        )
        # Traced parameter-state functions, one per message_passing flag (not
        # tracked by Keras: they hold no state of their own).
        object.__setattr__(self, "_state_fns", {})

    def node_states(self, graph: Any, *, message_passing: bool = True) -> tf.Tensor:
        """Node states after encoding and (unless switched off) message passing."""
        encoded = states = self.encoder(graph)
        if message_passing:
            states = self.message_passing(graph, encoded)
            if self.skip_states:
                states = states + _unit_rms(encoded)
        if self.centre_states:
            states = _centred_per_network(graph, states)
        return states

    def call(
        self, graph: Any, training: bool | None = None, message_passing: bool = True
    ) -> list[tf.Tensor]:
        """Predicts all parameters of the graph's architectures.

        Args:
            graph: a GraphTensor from `gq.graphs_to_tensor`.
            training: unused (no dropout); kept for the Keras signature.
            message_passing: False decodes each node from its own features
                only (the no-graph ablation).
        """
        plan = decode_plan(graph)
        networks = None
        if self.centre_coefficients:  # each parameter's network, for the decoder's centring
            sizes = graph.node_sets[PARAM_SET].sizes
            networks = tf.repeat(tf.range(tf.size(sizes)), tf.cast(sizes, tf.int32))
        return self.decoder(self._param_states(graph, bool(message_passing)), plan, networks)

    def _param_states(self, graph: Any, message_passing: bool) -> tf.Tensor:
        """Each parameter's state (its owner op's), by a traced function.

        The encoder and message passing do not depend on the parameters'
        shapes, so one trace over a size-relaxed GraphTensor spec serves every
        graph; its backward is then one op instead of hundreds of eager ones.
        """
        import tensorflow_gnn as tfgnn

        fn = self._state_fns.get(message_passing)
        if fn is None:

            def param_states(graph: Any) -> tf.Tensor:
                states = self.node_states(graph, message_passing=message_passing)
                return tfgnn.broadcast_node_to_edges(
                    graph, "owner", tfgnn.SOURCE, feature_value=states
                )

            spec = graph.spec.relax(num_components=True, num_nodes=True, num_edges=True)
            fn = tf.function(param_states, input_signature=[spec], autograph=False)
            self._state_fns[message_passing] = fn
        return fn(graph)

    def predict_params(
        self,
        graphs: ArchGraph | Sequence[ArchGraph],
        *,
        bits: int | Sequence[int] | None = None,
        message_passing: bool = True,
    ) -> list[list[tf.Tensor]]:
        """One GHN call for several architectures, split per architecture."""
        if isinstance(graphs, ArchGraph):
            graphs = [graphs]
        tensor = graphs_to_tensor(list(graphs), bits=bits, max_distance=self.max_distance)
        flat = self(tensor, message_passing=message_passing)
        result, start = [], 0
        for graph in graphs:
            result.append(flat[start : start + len(graph.params)])
            start += len(graph.params)
        return result

    def get_config(self) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "num_layers": self.num_layers,
            "conv": self.conv,
            "max_distance": self.max_distance,
            "channels": self.channels,
            "kernel_size": self.kernel_size,
            "rank": self.rank,
            "basis": self.basis,
            "templates": self.templates,
            "bank_stddev": self.bank_stddev,
            "beta": self.beta,
            "classifier_beta": self.classifier_beta,
            "roll_pointwise": self.roll_pointwise,
            "orthogonal_kernels": self.orthogonal_kernels,
            "centre_coefficients": self.centre_coefficients,
            "centre_states": self.centre_states,
            "skip_states": self.skip_states,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GHN:
        return cls(**config)

    def build_all(self) -> GHN:
        """Creates every weight by predicting a tiny graph that uses every head."""
        from ghnq_tf.hypernet.probe import probe_graph

        if not self.built or not self.decoder.built:
            self.predict_params(probe_graph(), bits=4)
        return self

    def get_build_config(self) -> dict[str, Any]:
        return {"probe": True}

    def build_from_config(self, config: dict[str, Any]) -> None:
        self.build_all()

    def save(self, filepath: str, overwrite: bool = True, **kwargs: Any) -> None:
        """Saves the GHN in Keras format (`.keras`), atomically."""
        from ghnq_tf.hypernet.checkpoint import save_ghn

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath!r} exists and `overwrite=False`.")
        save_ghn(self, filepath)

    @classmethod
    def load(cls, path: str) -> GHN:
        """Loads a GHN saved with `save`; predicts exactly what the saved one did."""
        from ghnq_tf.hypernet.checkpoint import load_ghn

        return load_ghn(path)

    @classmethod
    def from_pretrained(cls, name: str = "cifar10") -> GHN:
        """Loads a GHN bundled under `ghnq_tf/pretrained/` (see its manifest)."""
        from ghnq_tf.hypernet.checkpoint import load_pretrained

        return load_pretrained(name)

    def count_params(self) -> int:
        self.build_all()
        return super().count_params()
