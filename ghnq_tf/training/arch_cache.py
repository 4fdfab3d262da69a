"""Per-architecture work, cached across steps: build, quantize-wrap, trace.

A *miss* builds the Keras model from its spec, wraps it with tfmot at the
drawn bitwidth (or keeps it float when `qat=False`), describes it as a graph,
finds the variables the GHN writes into, and creates the step function
(traced once the network has been used a few times). A *hit* reuses all of
that. The cache is bounded (least recently used entries are dropped) and
counts hits, misses and the time they cost.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.arch_graph import ArchGraph
from ghnq_tf.graph.from_keras import graph_from_keras
from ghnq_tf.graph.variables import param_variables
from ghnq_tf.training.filter_correlation import decorrelation_gradients


@dataclasses.dataclass
class ArchEntry:
    """Everything a training step needs for one (architecture, bitwidth)."""

    key: str
    bits: int
    model: keras.Model  # the network that runs: quantize-aware, or float when qat=False
    graph: ArchGraph
    targets: list[tf.Variable]  # receive the GHN's tensors, graph.params order
    step: Callable[..., tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]]  # see make_step
    uses: int = 0
    ran: bool = False  # whether `step` has run once (its first call is timed)


def _spec_key(spec: Any) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def make_step(
    model: keras.Model,
    targets: list[tf.Variable],
    *,
    label_smoothing: float = 0.0,
    trace_after: int | None = 0,
    gradients: bool = True,
    distill_temperature: float = 4.0,
    distill_weight: float = 0.5,
    network_clip: float | None = None,
    param_penalty: float = 0.0,
    filter_decorrelation: float = 0.0,
) -> Callable[..., tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]]:
    """A step: (loss, top-1, the gradient with respect to `targets`) on a batch.

    `step(images, labels)` takes the cross-entropy with the labels;
    `step(images, labels, soft)` distills too: with `soft` a teacher's
    softened probabilities (`softmax(teacher_logits / T)`), the loss is
    `(1 - w) * CE(labels) + w * T² * KL(soft || softmax(logits / T))`
    (Hinton et al.), `T` = `distill_temperature`, `w` = `distill_weight`.

    Runs the network in training mode: fake-quant with straight-through
    gradients and batch statistics in batch norm, as QAT does. The first
    `trace_after` calls run eagerly; later calls run a `tf.function` (tracing
    costs several eager calls, so it pays only for networks used often).
    None never traces. With `gradients=False` (validation) the step runs
    forward only and returns no gradients.

    The returned gradient is `scale * (c * dloss/dv + param_penalty * v / |v|
    + d/dv filter_decorrelation * Σ_k mean cos²(k))` for each target `v`:
    `c` = min(1, `network_clip` / the global norm of dloss/dv) bounds one
    network's pull (1 when `network_clip` is None), the second term is the
    gradient of `param_penalty * Σ |v|` (Frobenius norms), the third that of
    the filter-decorrelation penalty over the rank-4 (convolution) targets
    `k` (`ghnq_tf.training.filter_correlation`), and `scale` is
    `step(..., scale=)` (1 by default). Computing the penalties on the
    targets, which hold the GHN's tensors, inside the traced step spares the
    trainer several eager ops per tensor.
    """
    kernels = [i for i, v in enumerate(targets) if len(v.shape) == 4]
    loss_obj = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=label_smoothing
    )

    def forward(images: tf.Tensor, labels: tf.Tensor, soft: tf.Tensor | None):
        logits = model(images, training=True)
        depth = tf.shape(logits)[-1]
        loss = loss_obj(tf.one_hot(tf.cast(labels, tf.int32), depth), logits)
        if soft is not None:
            t, w = distill_temperature, distill_weight
            log_student = tf.nn.log_softmax(logits / t)
            log_soft = tf.math.log(tf.maximum(soft, 1e-12))
            kl = tf.reduce_mean(tf.reduce_sum(soft * (log_soft - log_student), axis=-1))
            loss = (1.0 - w) * loss + w * t * t * kl
        return logits, loss

    def finish(grads: list[tf.Tensor], scale: tf.Tensor | None) -> list[tf.Tensor]:
        if network_clip:
            norm = tf.linalg.global_norm(grads)
            factor = tf.minimum(1.0, network_clip / (norm + 1e-12))
            grads = [g * factor for g in grads]
        if param_penalty:
            grads = [
                g + param_penalty * v / (tf.norm(v) + 1e-12)
                for g, v in zip(grads, targets, strict=True)
            ]
        if filter_decorrelation:
            grads = list(grads)
            extra = decorrelation_gradients([targets[i] for i in kernels], filter_decorrelation)
            for i, g in zip(kernels, extra, strict=True):
                grads[i] = grads[i] + g
        if scale is not None:
            grads = [g * scale for g in grads]
        return grads

    def eager_step(
        images: tf.Tensor,
        labels: tf.Tensor,
        soft: tf.Tensor | None = None,
        scale: tf.Tensor | None = None,
    ):
        grads: list[tf.Tensor] = []
        if gradients:
            with tf.GradientTape() as tape:
                logits, loss = forward(images, labels, soft)
            grads = tape.gradient(loss, targets, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            grads = finish(grads, scale)
        else:
            logits, loss = forward(images, labels, soft)
        hits = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), tf.cast(labels, tf.int32))
        return loss, tf.reduce_mean(tf.cast(hits, tf.float32)), grads

    traced_step = tf.function(eager_step, reduce_retracing=True)
    calls = [0]

    def step(
        images: tf.Tensor,
        labels: tf.Tensor,
        soft: tf.Tensor | None = None,
        scale: tf.Tensor | None = None,
    ):
        calls[0] += 1
        if trace_after is None or calls[0] <= trace_after:
            return eager_step(images, labels, soft, scale)
        return traced_step(images, labels, soft, scale)

    return step


class ArchCache:
    """Bounded LRU cache of `ArchEntry`s keyed by (spec, bits).

    Args:
        build: spec → float `tf_keras` model.
        capacity: the most entries kept.
        qat: wrap networks with tfmot fake-quant at their bitwidth; False
            trains float networks (the GHN-Q baseline).
        label_smoothing: of the training loss.
        trace_after: uses of a network before its step is traced (see
            `make_step`).
        activation_ranges: `"initial"`, `"batch"` or `"mse"`, see
            `ghnq_tf.training.fresh_ranges`.
        gradients: whether steps return the gradients with respect to the
            targets (False: forward only, for validation).
        distill_temperature: `T` of a distilling step (see `make_step`).
        distill_weight: weight of the distillation term (see `make_step`).
        network_clip: bound on each network's gradient norm (see `make_step`).
        param_penalty: weight of the parameter-norm penalty (see `make_step`).
        filter_decorrelation: weight of the filter-decorrelation penalty (see
            `make_step`).
    """

    def __init__(
        self,
        build: Callable[[Any], keras.Model],
        *,
        capacity: int = 64,
        qat: bool = True,
        label_smoothing: float = 0.0,
        trace_after: int | None = 8,
        activation_ranges: str = "initial",
        gradients: bool = True,
        distill_temperature: float = 4.0,
        distill_weight: float = 0.5,
        network_clip: float | None = None,
        param_penalty: float = 0.0,
        filter_decorrelation: float = 0.0,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"`cache_size` must be >= 1. Received: cache_size={capacity}")
        self.build = build
        self.capacity = capacity
        self.qat = qat
        self.label_smoothing = label_smoothing
        self.trace_after = trace_after
        self.activation_ranges = activation_ranges
        self.gradients = gradients
        self.distill_temperature = distill_temperature
        self.distill_weight = distill_weight
        self.network_clip = network_clip
        self.param_penalty = param_penalty
        self.filter_decorrelation = filter_decorrelation
        self.entries: collections.OrderedDict[tuple[str, int], ArchEntry] = (
            collections.OrderedDict()
        )
        self.hits = 0
        self.misses = 0
        self.miss_seconds = 0.0

    def _create(self, spec: Any, bits: int, key: str) -> ArchEntry:
        model = self.build(spec)
        graph = graph_from_keras(model)
        if self.qat:
            from ghnq_tf.quant import quantize
            from ghnq_tf.quant.variables import target_list
            from ghnq_tf.training.fresh_ranges import use_fresh_ranges

            network = quantize(model, bits=bits)
            use_fresh_ranges(network, mode=self.activation_ranges)  # no history across steps
            targets = target_list(network, model, graph)
        else:
            network = model
            targets = param_variables(model, graph)
        step = make_step(
            network,
            targets,
            label_smoothing=self.label_smoothing,
            trace_after=self.trace_after,
            gradients=self.gradients,
            distill_temperature=self.distill_temperature,
            distill_weight=self.distill_weight,
            network_clip=self.network_clip,
            param_penalty=self.param_penalty,
            filter_decorrelation=self.filter_decorrelation,
        )
        return ArchEntry(key, bits, network, graph, targets, step)

    def get(self, spec: Any, bits: int) -> ArchEntry:
        """The entry of (spec, bits), created on a miss."""
        key = (_spec_key(spec), int(bits))
        entry = self.entries.get(key)
        if entry is not None:
            self.hits += 1
            self.entries.move_to_end(key)
        else:
            start = time.perf_counter()
            entry = self._create(spec, int(bits), key[0])
            self.misses += 1
            self.miss_seconds += time.perf_counter() - start
            self.entries[key] = entry
            while len(self.entries) > self.capacity:
                self.entries.popitem(last=False)
        entry.uses += 1
        return entry

    def stats(self) -> dict[str, float]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "size": len(self.entries),
            "miss_seconds_mean": self.miss_seconds / self.misses if self.misses else 0.0,
        }
