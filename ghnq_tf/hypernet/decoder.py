"""Decoding node states into parameter tensors of any shape.

Each kernel is a sum of up to three terms over a fixed maximal tensor of
`channels` × `channels` × `kernel_size` × `kernel_size` (GHN-2's fixed
64×64×s×s tensor, never materialized):

* a **basis** term: `basis` learned, full-rank `channels` × `channels` channel
  matrices per kernel kind, mixed by the node's own spatial coefficients (the
  structure of GHN-2's decoder, whose last layer is such a bank). It lets one
  node's kernel be full rank across channels;
* a **CP** term: the node's own rank-`rank` factors for the output channels,
  input channels and the spatial kernel;
* a **template** term: `templates` learned, unconstrained maximal tensors per
  kernel kind, mixed by `templates` coefficients of the node. Unlike the
  basis, a template sets every (position, input, output) value on its own,
  so a node can select a whole learned layer (a per-layer hypernetwork's
  output layer); it costs `channels² · kernel_size²` weights per template.

A CP term alone bottlenecks every layer to `rank` channel directions: with it
only, a GHN fitting 8 digits architectures stalled near 20 % train top-1;
with the basis term it reached 43 % in 60 steps.

All are sliced to each exact shape — the kernel centre-cropped, channels
tiled when the layer is wider than `channels` — so only the values a layer
needs are computed. A centre crop leaves a 1×1 or dense kernel (pointwise
convolutions, the classifier) the coefficients of one position only: a mix
of `basis` matrices. With `roll_pointwise`, such a kernel's basis term
mixes the coefficients of all `kernel_size²` positions instead, position
`p` using the bank's matrices rolled by `p` along the output channels:
`basis · kernel_size²` matrices from the same bank, no new weights. (With
the bundled `cifar10_float`, the best classifier of its 32-matrix family
scores what its own classifier does, 27.9 against 28.4 %, where a linear
probe of the same features scores 37.9 %: `research/feature_probe.py`.)
With `orthogonal_kernels`, each conv and hidden dense kernel, reshaped to
a `(kh·kw·in) × out` matrix, is replaced by (a Newton-Schulz approximation
of) its polar factor: the node still chooses the directions, but its filters
come out orthonormal, as with Keras' `Orthogonal` initializer, instead of
repeating each other (`research/README.md`: the predicted filters' mean
|cosine| is 0.30 against 0.13 for Keras' initialization).
With `centre_coefficients` = λ, each conv, depthwise and hidden dense
kernel's coefficients (not its gain) lose λ times their mean over the
kernels of the same kind in the same network (where it has two or more):
what every layer of a network shares is removed, and the layers differ by
construction. (Trained GHNs predict the same kernel for every layer of a
shape, mean |cosine| 0.997 between them, and the features lose their
directions layer after layer: `research/depth_collapse.py`.)
1-D parameters (biases, batch-norm gamma/beta) have their own heads.

Predicted values are normalized as in GHN-2: kernels to fan-in scale
`w·sqrt(β/fan_in)` (β = `beta`, 1, for hidden layers and `classifier_beta`,
0.1, for the classifier), after scaling each tensor to unit RMS (which keeps
the start of training stable for any depth), times a predicted gain
`2·sigmoid(p)` (1 at initialization; lets the GHN shrink layers of
batch-norm-free networks whose branches add up), gamma `2·sigmoid(0.5p)`,
biases and beta `tanh(0.2p)`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.ops import PARAM_KINDS
from ghnq_tf.hypernet.kernel_mix import crop_index, kernel_function, tile_index

# Fan-in numerator of the classifier: small logits at the start (loss near
# ln(num_classes)) instead of a confident random guess to unlearn first.
# 1.0 fit as fast on plain chains and 10.0 slower (research/README.md).
CLASSIFIER_BETA = 0.1
KERNEL_KINDS = ("conv", "dw_conv", "linear", "classifier")
# GHN options that change how parameters are decoded but none of the
# weights: a trained GHN can be loaded with them switched (`training.init_from`).
DECODING_SWITCHES = (
    "roll_pointwise",
    "orthogonal_kernels",
    "centre_coefficients",
    "centre_states",
    "skip_states",
)
# Kinds whose coefficients `centre_coefficients` centres within each network:
# the classifier (one per network) and 1-D parameters keep theirs.
CENTRED_KINDS = ("conv", "dw_conv", "linear")
VECTOR_KINDS = ("bias", "classifier_bias", "gamma", "beta")


@dataclasses.dataclass(frozen=True)
class _Group:
    kind: str
    shape: tuple[int, int, int, int]  # Keras shape left-padded with ones to rank 4
    rows: np.ndarray  # positions of this group's parameters among their kind's rows
    params: np.ndarray  # the same parameters' indices in parameter order
    fan_in: np.ndarray  # float32 [g]


@dataclasses.dataclass(frozen=True)
class DecodePlan:
    """How to decode one batch's parameters: static shapes, grouped.

    Attributes:
        kind_rows: for each kind present, the parameter indices of that kind.
        groups: parameters of one kind and one shape, decoded together.
        shapes: each parameter's true Keras shape.
    """

    kind_rows: dict[str, np.ndarray]
    groups: tuple[_Group, ...]
    shapes: tuple[tuple[int, ...], ...]


def _true_shape(padded: tuple[int, ...]) -> tuple[int, ...]:
    """Drops the zero padding of `ArchGraph.param_features` shapes."""
    rank = 4
    while rank and padded[4 - rank] == 0:
        rank -= 1
    return tuple(padded[4 - rank :])


@functools.lru_cache(maxsize=512)
def _plan(kinds: bytes, shapes: bytes, fan_in: bytes) -> DecodePlan:
    kind_ids = np.frombuffer(kinds, np.int32)
    padded = np.frombuffer(shapes, np.int32).reshape(-1, 4)
    true_shapes = tuple(_true_shape(tuple(int(d) for d in s)) for s in padded)
    shape_arr = np.maximum(padded, 1)  # (1, 1, in, out) for a dense kernel
    fan_arr = np.frombuffer(fan_in, np.int32).astype(np.float32)
    kind_rows: dict[str, np.ndarray] = {}
    groups: list[_Group] = []
    for kind_id in np.unique(kind_ids):
        kind = PARAM_KINDS[int(kind_id)]
        rows = np.nonzero(kind_ids == kind_id)[0]
        kind_rows[kind] = rows
        keys, key_index = np.unique(shape_arr[rows], axis=0, return_inverse=True)
        for index, key in enumerate(keys):
            members = np.nonzero(key_index.reshape(-1) == index)[0]
            params = rows[members]
            groups.append(
                _Group(kind, tuple(int(d) for d in key), members, params, fan_arr[params])
            )
    return DecodePlan(kind_rows, tuple(groups), true_shapes)


def make_plan(kinds: np.ndarray, shapes: np.ndarray, fan_in: np.ndarray) -> DecodePlan:
    """The (cached) decode plan for parameters with these kinds/shapes/fan-ins."""
    return _plan(
        np.ascontiguousarray(kinds, np.int32).tobytes(),
        np.ascontiguousarray(shapes, np.int32).tobytes(),
        np.ascontiguousarray(fan_in, np.int32).tobytes(),
    )


@keras.utils.register_keras_serializable(package="ghnq_tf")
class ParamDecoder(keras.layers.Layer):
    """Maps parameter states to parameter tensors (see the module docstring).

    Example:
        >>> decoder = ParamDecoder(hidden=64)
        >>> tensors = decoder(states, plan)  # one tensor per parameter

    Args:
        hidden: width of the incoming states.
        channels: channel extent of the fixed maximal tensor (GHN-2: 64).
        kernel_size: spatial extent of the fixed maximal tensor.
        rank: rank of each kernel's node-specific CP term (0: none).
        basis: number of learned full-rank channel matrices per kernel kind,
            which each node mixes with its own spatial coefficients (GHN-2's
            decoder, whose last layer is such a bank; 0: none).
        templates: number of learned whole maximal tensors per kernel kind,
            which each node mixes (0: none).
        bank_stddev: standard deviation of the banks' and templates' normal
            initialization. Decoded kernels are RMS-normalized, so (with
            `rank=0`) it does not change what the GHN predicts at
            initialization, only how far an optimizer step moves the banks
            relative to their size (Adam's relative step is about
            `learning_rate / bank_stddev`).
        beta: numerator of the fan-in scaling of hidden kernels: 1 (the
            variance of Keras' Glorot default for square layers) keeps
            batch-norm-free networks whose branches add up from exploding;
            2 (He) made their activations 300x larger at initialization.
        classifier_beta: the same numerator for the classifier's kernel.
        roll_pointwise: 1×1 and dense kernels mix the bank with the
            coefficients of every position, each position's bank rolled
            along the output channels (see the module docstring).
        orthogonal_kernels: conv and hidden dense kernels are replaced by
            their (approximate) polar factor, filters orthonormal (see the
            module docstring).
        centre_coefficients: fraction λ of the per-network mean of the
            conv, depthwise and hidden dense coefficients removed from each
            kernel's (see the module docstring); 0: none.
    """

    def __init__(
        self,
        *,
        hidden: int = 64,
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= centre_coefficients <= 1.0:
            raise ValueError(
                "`centre_coefficients` must be between 0 and 1. "
                f"Received: centre_coefficients={centre_coefficients}"
            )
        if min(rank, basis, templates) < 0 or rank + basis + templates == 0:
            raise ValueError(
                "`rank`, `basis` and `templates` must be >= 0, and not all 0. "
                f"Received: rank={rank}, basis={basis}, templates={templates}"
            )
        for name, value in (("bank_stddev", bank_stddev), ("classifier_beta", classifier_beta)):
            if not value > 0:
                raise ValueError(f"`{name}` must be > 0. Received: {name}={value}")
        self.hidden = hidden
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
        spatial = kernel_size * kernel_size
        width = rank * (2 * channels + spatial) + basis * spatial + templates + 1  # + a gain
        dense = keras.layers.Dense
        self.heads = {
            kind: keras.Sequential(
                [
                    dense(hidden, activation="relu", name=f"head_{kind}_hidden"),
                    dense(width, name=f"head_{kind}_out"),
                ],
                name=f"head_{kind}",
            )
            for kind in KERNEL_KINDS
        }
        self.heads.update(
            {
                kind: keras.Sequential(
                    [
                        dense(hidden, activation="relu", name=f"head_{kind}_hidden"),
                        dense(channels, name=f"head_{kind}_out"),
                    ],
                    name=f"head_{kind}",
                )
                for kind in VECTOR_KINDS
            }
        )

    def build(self, input_shape: Any) -> None:
        self.banks = {
            kind: self.add_weight(
                name=f"bank_{kind}",
                shape=(self.basis, self.channels, self.channels),
                initializer=keras.initializers.RandomNormal(stddev=self.bank_stddev),
            )
            for kind in KERNEL_KINDS
        }
        k, c = self.kernel_size, self.channels
        # Created only when used: checkpoints saved before templates existed
        # keep exactly their weights.
        self.template_banks = {
            kind: (
                self.add_weight(
                    name=f"templates_{kind}",
                    shape=(self.templates, k, k, c, c),
                    initializer=keras.initializers.RandomNormal(stddev=self.bank_stddev),
                )
                if self.templates
                else tf.zeros((0, k, k, c, c))
            )
            for kind in KERNEL_KINDS
        }
        # Every head exists once the decoder does, whichever parameter kinds
        # the first graphs hold: a GHN's weights (and what `save` writes)
        # never depend on the networks it happened to meet. Built in `heads`
        # order, each Dense's kernel then bias, as a first call used to: a
        # seeded GHN starts from the same weights as before.
        for head in self.heads.values():
            head.build((None, self.hidden))
        super().build(input_shape)

    def _kernel(self, out: tf.Tensor, group: _Group) -> tf.Tensor:
        kh, kw, d_in, d_out = group.shape
        c, k = self.channels, self.kernel_size
        beta = self.classifier_beta if group.kind == "classifier" else self.beta
        rolled = self.roll_pointwise and kh == kw == 1 and group.kind != "dw_conv"
        orthogonal = self.orthogonal_kernels and group.kind in ("conv", "linear")
        return kernel_function(c, k, self.rank, self.basis, self.templates, rolled, orthogonal)(
            out,
            self.banks[group.kind],
            self.template_banks[group.kind],
            tile_index(d_in, c),
            tile_index(d_out, c),
            crop_index(kh, k),
            crop_index(kw, k),
            np.sqrt(beta / group.fan_in).astype(np.float32),
        )

    def _vector(self, out: tf.Tensor, group: _Group) -> tf.Tensor:
        values = tf.gather(out, tile_index(group.shape[3], self.channels), axis=1)
        if group.kind == "gamma":
            return 2.0 * tf.sigmoid(0.5 * values)
        return tf.tanh(0.2 * values)

    def _centre(self, out: tf.Tensor, networks: tf.Tensor) -> tf.Tensor:
        """`out` less λ × its network's mean coefficients (gain kept; lone kernels kept)."""
        count = tf.reduce_max(networks) + 1
        mean = tf.math.unsorted_segment_mean(out[:, :-1], networks, count)
        members = tf.math.unsorted_segment_sum(tf.ones_like(out[:, 0]), networks, count)
        weight = self.centre_coefficients * tf.cast(members >= 2, out.dtype)
        shift = tf.gather(mean * weight[:, None], networks)
        return tf.concat([out[:, :-1] - shift, out[:, -1:]], axis=1)

    def call(
        self, states: tf.Tensor, plan: DecodePlan, networks: tf.Tensor | None = None
    ) -> list[tf.Tensor]:
        """Decodes `states` ([num_params, hidden]) into tensors per `plan`.

        `networks` ([num_params] int32) numbers each parameter's network; it
        is needed only with `centre_coefficients`.
        """
        head_out = {}
        for kind, rows in plan.kind_rows.items():
            out = self.heads[kind](tf.gather(states, rows))
            if self.centre_coefficients and kind in CENTRED_KINDS:
                if networks is None:
                    raise ValueError(
                        "`networks` must be given when `centre_coefficients` > 0. "
                        "Received: networks=None"
                    )
                out = self._centre(out, tf.gather(networks, rows))
            head_out[kind] = out
        result: list[Any] = [None] * len(plan.shapes)
        for group in plan.groups:
            out = tf.gather(head_out[group.kind], group.rows)
            if group.kind in VECTOR_KINDS:
                values = self._vector(out, group)
            else:
                values = self._kernel(out, group)
            # Unstacking (not one big permutation of all values) keeps the backward cheap.
            for index, piece in zip(group.params, tf.unstack(values), strict=True):
                result[index] = tf.reshape(piece, plan.shapes[index])
        return result

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "hidden": self.hidden,
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
        }
