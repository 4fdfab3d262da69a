"""`GHNTrainer`: trains a GHN with `model.fit`, QAT in the loop (GHN-QAT)."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.graph.to_tensor import graphs_to_tensor
from ghnq_tf.hypernet.ghn import GHN
from ghnq_tf.training.arch_cache import ArchCache, ArchEntry
from ghnq_tf.training.local_variables import local_variables, outside_strategy
from ghnq_tf.training.sampler import ArchSampler


def _replica() -> tuple[int, int]:
    """(replica id, number of replicas) of the calling replica."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None:
        return 0, tf.distribute.get_strategy().num_replicas_in_sync
    return int(tf.get_static_value(ctx.replica_id_in_sync_group)), ctx.num_replicas_in_sync


class _RunState:
    """Per-process state of a run: caches, draws, timings (not checkpointed)."""

    def __init__(self) -> None:
        self.caches: dict[tuple[str, int], ArchCache] = {}
        self.val_version: dict[int, int] = {}
        self.draws: list[tuple[int, int, list[int], list[int]]] = []  # step, replica, ids, bits
        self.timing = {
            "steps": 0,
            "step_seconds": 0.0,
            "val_batches": 0,
            "val_seconds": 0.0,
            "first_call_seconds": 0.0,
            "first_calls": 0,
        }


def _bits_set(bits: int | Sequence[int]) -> tuple[int, ...]:
    values = (bits,) if isinstance(bits, int) else tuple(bits)
    if not values or any(not isinstance(b, int) or not 2 <= b <= 8 for b in values):
        raise ValueError(f"`bits` must be an int in 2..8 or a set of them. Received: bits={bits!r}")
    return tuple(sorted(set(values)))


@keras.utils.register_keras_serializable(package="ghnq_tf")
class GHNTrainer(keras.Model):
    """Trains a `gq.GHN` on a pool of architectures with `fit`.

    Each step takes an image batch, draws `meta_batch` architectures (and a
    bitwidth for each) from `archs`, predicts their parameters in one GHN
    call, runs every network on the batch with tfmot fake-quant in training
    mode (straight-through gradients), and updates the GHN with the mean
    loss (the two-tape step of DESIGN.md). Metrics: loss and top-1, averaged
    over the networks.

    The outer step runs eagerly (`compile` forces `run_eagerly=True`) so the
    draw changes at every step; per-architecture work (build, quantize-wrap,
    trace) is cached in a bounded cache.

    Example:
        >>> ghn = gq.GHN(hidden=64, num_layers=3)
        >>> trainer = gq.GHNTrainer(ghn, gq.search_space.split("train", 1000), bits=4)
        >>> trainer.compile(optimizer=tf_keras.optimizers.Adam(1e-3, global_clipnorm=5.0))
        >>> trainer.fit(train_ds, epochs=10, validation_data=val_ds)

    Args:
        ghn: the `gq.GHN` to train.
        archs: architecture specs of `gq.search_space` (or any JSON-able
            specs `build` understands).
        bits: the bitwidth (e.g. 4) or a set sampled per network ({2, 4, 8}).
        meta_batch: networks per step (per replica).
        qat: True trains through fake-quant; False trains float networks and
            quantizes only at evaluation (the GHN-Q baseline).
        val_archs: specs whose predicted-parameter accuracy `evaluate` /
            `fit(validation_data=...)` reports.
        val_bits: bitwidth for validation (default: the smallest of
            `bits`, the hardest).
        input_shape: image shape the networks are built for.
        num_classes: classifier width.
        cache_size: networks kept built between steps (per replica).
        trace_after: uses of a network before its step is traced with
            `tf.function` (tracing costs several eager steps); None: never.
        param_penalty: GHN-3's penalty on the sum of Frobenius norms of the
            predicted tensors.
        filter_decorrelation: weight of the penalty on the mean squared
            cosine between the filters of each predicted convolution kernel
            (`ghnq_tf.training.filter_correlation`; 0: none).
        label_smoothing: of the training loss.
        network_clip: bound on the norm of each network's loss gradient with
            respect to its parameters, so one diverging network cannot
            dominate a step (None: no bound).
        activation_ranges: how the networks' activation quantizers range in
            training: `"initial"` (tfmot's start, [-6, 6], at every step),
            `"batch"` (the batch's min/max) or `"mse"` (the batch's
            least-squares range, and least-squares weight ranges: what
            `gq.calibrate` sets by default); either way a step has no
            history, so resume and distribution are exact.
        seed: seed of the architecture draws.
        window: draw each step's networks from this many consecutive networks
            of `archs`, a window that slides by one every `window_steps` steps
            (None: from all of them). With a window no larger than
            `cache_size`, a pool of any size costs one network build per
            `window_steps` steps.
        window_steps: steps between two slides of the window.
        teacher: a trained `tf_keras` classifier of the same images (or None).
            Each training batch runs through it once, and every network's
            loss adds the distillation term of its softened outputs (see
            `ghnq_tf.training.arch_cache.make_step`); validation keeps the
            plain cross-entropy.
        distill_temperature: the softening temperature `T`.
        distill_weight: the weight `w` of the distillation term; the label
            term keeps `1 - w`.
        build: spec → tf_keras model (default: `gq.search_space.build`).
    """

    def __init__(
        self,
        ghn: GHN,
        archs: Sequence[Any],
        *,
        bits: int | Sequence[int] = 4,
        meta_batch: int = 8,
        qat: bool = True,
        val_archs: Sequence[Any] | None = None,
        val_bits: int | None = None,
        input_shape: Sequence[int] = (32, 32, 3),
        num_classes: int = 10,
        cache_size: int = 64,
        trace_after: int | None = 8,
        param_penalty: float = 3e-5,
        filter_decorrelation: float = 0.0,
        label_smoothing: float = 0.0,
        network_clip: float | None = 10.0,
        activation_ranges: str = "initial",
        seed: int = 0,
        window: int | None = None,
        window_steps: int = 4,
        teacher: keras.Model | None = None,
        distill_temperature: float = 4.0,
        distill_weight: float = 0.5,
        build: Callable[..., keras.Model] | None = None,
        name: str = "ghn_trainer",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        if not isinstance(ghn, GHN):
            raise TypeError(f"`ghn` must be a gq.GHN. Received: ghn={ghn!r}")
        self.ghn = ghn.build_all()  # every head exists before the optimizer sees them
        self.built = True  # its only weights are the GHN's (BackupAndRestore needs this)
        # Kept as JSON text: Keras would wrap lists of dicts into trackables.
        self._archs_json = tuple(json.dumps(a, sort_keys=True) for a in archs)
        self._val_json = tuple(json.dumps(a, sort_keys=True) for a in (val_archs or []))
        self.bits = _bits_set(bits)
        self.meta_batch = meta_batch
        self.qat = bool(qat)
        self.val_bits = int(val_bits if val_bits is not None else min(self.bits))
        self.input_shape_ = tuple(input_shape)
        self.num_classes = num_classes
        self.cache_size = cache_size
        self.trace_after = trace_after
        self.param_penalty = float(param_penalty)
        if not filter_decorrelation >= 0:
            raise ValueError(
                "`filter_decorrelation` must be >= 0. "
                f"Received: filter_decorrelation={filter_decorrelation!r}"
            )
        self.filter_decorrelation = float(filter_decorrelation)
        self.label_smoothing = float(label_smoothing)
        self.network_clip = None if network_clip is None else float(network_clip)
        self.activation_ranges = activation_ranges
        self.seed = seed
        self.window = window
        self.window_steps = window_steps
        if teacher is not None and not isinstance(teacher, keras.Model):
            raise TypeError(
                f"`teacher` must be a tf_keras model or None. Received: teacher={teacher!r}"
            )
        if not distill_temperature > 0 or not 0.0 <= distill_weight <= 1.0:
            raise ValueError(
                "`distill_temperature` must be > 0 and `distill_weight` in [0, 1]. Received: "
                f"distill_temperature={distill_temperature}, distill_weight={distill_weight}"
            )
        # Set past Keras' attribute tracking: the teacher is no weight of the trainer.
        object.__setattr__(self, "_teacher", teacher)
        self.distill_temperature = float(distill_temperature)
        self.distill_weight = float(distill_weight)
        self.sampler = ArchSampler(
            num_archs=len(self._archs_json),
            meta_batch=meta_batch,
            bits=self.bits,
            seed=seed,
            window=window,
            window_steps=window_steps,
        )
        drawn_from = len(self._archs_json) if window is None else window
        pairs = drawn_from * len(self.bits)
        if pairs > cache_size:
            warnings.warn(
                f"`cache_size`={cache_size} holds fewer networks than the {pairs} "
                f"(architecture, bits) pairs it draws from ({drawn_from} architectures "
                f"x bits={self.bits}): each draw the cache has evicted rebuilds and re-traces "
                "its network, many times the cost of a step. Raise `cache_size` (memory "
                "allowing), set a `window` of at most `cache_size` networks, or train on "
                "fewer architectures or bitwidths.",
                UserWarning,
                stacklevel=2,
            )
        self._build_fn = build
        self._state = _RunState()  # plain Python state, kept out of Keras tracking
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")

    @property
    def draws(self) -> list[tuple[int, int, list[int], list[int]]]:
        """Every draw made so far: (step, replica, architecture indices, bits)."""
        return self._state.draws

    @property
    def archs(self) -> list[Any]:
        """The training architecture specs."""
        return [json.loads(a) for a in self._archs_json]

    @property
    def val_archs(self) -> list[Any]:
        """The validation architecture specs."""
        return [json.loads(a) for a in self._val_json]

    def share_network_caches(self, store: dict) -> None:
        """Keeps this trainer's built networks in `store`, shared with other trainers.

        Built, quantize-wrapped networks do not depend on the GHN, so trainers
        whose networks are built alike (same input shape, classes, QAT,
        activation ranges, cache size, strategy) can reuse them; `GHNTuner`
        does between trials. Call before the first step.
        """
        self._state.caches = store

    # ----------------------------------------------------------------- setup
    def _build_network(self, spec: Any) -> keras.Model:
        if self._build_fn is not None:
            return self._build_fn(spec)
        from ghnq_tf.search_space import build

        return build(spec, input_shape=self.input_shape_, num_classes=self.num_classes)

    def cache(self, kind: str = "train") -> ArchCache:
        """This replica's cache of built networks (`train` or `val`)."""
        replica, _ = _replica()
        key = (kind, replica)
        if key not in self._state.caches:
            capacity = self.cache_size if kind == "train" else max(1, len(self._val_json))
            self._state.caches[key] = ArchCache(
                self._build_network,
                capacity=capacity,
                qat=self.qat or kind == "val",
                label_smoothing=self.label_smoothing,
                trace_after=self.trace_after,
                activation_ranges=self.activation_ranges,
                gradients=kind == "train",  # validation runs forward only
                distill_temperature=self.distill_temperature,
                distill_weight=self.distill_weight,
                network_clip=self.network_clip,
                param_penalty=self.param_penalty,
                filter_decorrelation=self.filter_decorrelation,
            )
        return self._state.caches[key]

    def _entries(self, kind: str, specs: Sequence[Any], bits: Sequence[int]) -> list[ArchEntry]:
        cache = self.cache(kind)
        with outside_strategy(), local_variables():
            return [cache.get(spec, b) for spec, b in zip(specs, bits, strict=True)]

    def compile(self, optimizer: Any = "adam", **kwargs: Any) -> None:
        """As `keras.Model.compile`; the outer step always runs eagerly."""
        if kwargs.pop("run_eagerly", True) is False:
            raise ValueError(
                "GHNTrainer needs `run_eagerly=True`: its step draws new architectures in "
                "Python at every step, which a traced train_step would freeze."
            )
        if kwargs.get("loss") is not None:
            raise ValueError("GHNTrainer computes its own loss; do not pass `loss` to compile.")
        super().compile(optimizer=optimizer, run_eagerly=True, **kwargs)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, graph: Any, training: bool | None = None) -> list[tf.Tensor]:
        return self.ghn(graph)

    # ------------------------------------------------------------------ steps
    @property
    def teacher(self) -> keras.Model | None:
        """The distillation teacher (None: labels only)."""
        return self._teacher

    def _soft_targets(self, images: tf.Tensor) -> tf.Tensor | None:
        """The teacher's softened probabilities of a batch (None without a teacher)."""
        if self.teacher is None:
            return None
        with outside_strategy():
            logits = self.teacher(images, training=False)
        return tf.stop_gradient(tf.nn.softmax(logits / self.distill_temperature))

    def _run(self, entry: ArchEntry, images: tf.Tensor, labels: tf.Tensor, soft=None, scale=None):
        with outside_strategy():  # a replica's networks and losses are its own
            return self._run_local(entry, images, labels, soft, scale)

    def _run_local(
        self, entry: ArchEntry, images: tf.Tensor, labels: tf.Tensor, soft=None, scale=None
    ):
        if not entry.ran:
            start = time.perf_counter()
            result = entry.step(images, labels, soft, scale)
            entry.ran = True
            self._state.timing["first_call_seconds"] += time.perf_counter() - start
            self._state.timing["first_calls"] += 1
            return result
        return entry.step(images, labels, soft, scale)

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        from ghnq_tf.quant.variables import inject

        start = time.perf_counter()
        images, labels = data[0], data[1]
        replica, num_replicas = _replica()
        step = int(self.optimizer.iterations.numpy())
        indices, bits = self.sampler.draw(step=step, replica=replica)
        self._state.draws.append((step, replica, indices, bits))
        entries = self._entries("train", [json.loads(self._archs_json[i]) for i in indices], bits)
        graph = graphs_to_tensor(
            [e.graph for e in entries], bits=bits, max_distance=self.ghn.max_distance
        )
        soft = self._soft_targets(images)  # once per batch, shared by the networks
        with tf.GradientTape() as tape:
            params = self.ghn(graph)
        offset, d_params, losses, accuracies = 0, [], [], []
        # The mean over networks; replicas' gradients are summed. Each network's
        # step also bounds its own gradient norm (one diverging network, e.g.
        # batch-norm-free early in training, must not drown the others) and
        # adds the gradient of the parameter-norm penalty (see `make_step`).
        scale = tf.constant(1.0 / (len(entries) * num_replicas))
        for entry in entries:
            count = len(entry.targets)
            inject(entry.targets, params[offset : offset + count])
            offset += count
            loss, accuracy, grads = self._run(entry, images, labels, soft, scale)
            losses.append(loss)
            accuracies.append(accuracy)
            d_params.extend(grads)
        variables = self.ghn.trainable_variables
        grads = tape.gradient(
            params,
            variables,
            output_gradients=d_params,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        grads = [tf.convert_to_tensor(g) for g in grads]
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        self.loss_tracker.update_state(tf.add_n(losses) / len(losses))
        self.accuracy_tracker.update_state(tf.add_n(accuracies) / len(accuracies))
        self._state.timing["steps"] += 1
        self._state.timing["step_seconds"] += time.perf_counter() - start
        return {m.name: m.result() for m in self.metrics}

    def _refresh_validation(self) -> list[ArchEntry]:
        """Predicts parameters of the validation networks once per GHN version."""
        from ghnq_tf.quant.variables import inject

        bits = [self.val_bits] * len(self._val_json)
        entries = self._entries("val", self.val_archs, bits)
        replica, _ = _replica()
        version = int(self.optimizer.iterations.numpy()) if self.optimizer else 0
        if self._state.val_version.get(replica) != version:
            chunk = max(1, self.meta_batch)
            for start in range(0, len(entries), chunk):
                part = entries[start : start + chunk]
                graph = graphs_to_tensor(
                    [e.graph for e in part],
                    bits=[e.bits for e in part],
                    max_distance=self.ghn.max_distance,
                )
                params = self.ghn(graph)
                offset = 0
                for entry in part:
                    inject(entry.targets, params[offset : offset + len(entry.targets)])
                    offset += len(entry.targets)
            self._state.val_version[replica] = version
        return entries

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        """Mean loss/top-1 of predicted parameters over `val_archs` (batch statistics)."""
        if not self._val_json:
            raise ValueError(
                "Validation needs `val_archs` (e.g. gq.search_space.split('val')) in "
                "GHNTrainer(...)."
            )
        start = time.perf_counter()
        images, labels = data[0], data[1]
        for entry in self._refresh_validation():
            loss, accuracy, _ = self._run(entry, images, labels)
            self.loss_tracker.update_state(loss)
            self.accuracy_tracker.update_state(accuracy)
        self._state.timing["val_batches"] += 1
        self._state.timing["val_seconds"] += time.perf_counter() - start
        return {m.name: m.result() for m in self.metrics}

    # ----------------------------------------------------------------- config
    def cache_stats(self) -> dict[str, Any]:
        """Hits, misses and the mean cost of a miss (build + wrap) and first call."""
        stats = {f"{k}/{r}": c.stats() for (k, r), c in self._state.caches.items()}
        timing = dict(self._state.timing)
        if timing["first_calls"]:
            timing["first_call_seconds_mean"] = timing["first_call_seconds"] / timing["first_calls"]
        return {"caches": stats, "timing": timing}

    def get_config(self) -> dict[str, Any]:
        return {
            "ghn": keras.saving.serialize_keras_object(self.ghn),
            "archs": self.archs,
            "bits": list(self.bits),
            "meta_batch": self.meta_batch,
            "qat": self.qat,
            "val_archs": self.val_archs,
            "val_bits": self.val_bits,
            "input_shape": list(self.input_shape_),
            "num_classes": self.num_classes,
            "cache_size": self.cache_size,
            "trace_after": self.trace_after,
            "param_penalty": self.param_penalty,
            "filter_decorrelation": self.filter_decorrelation,
            "label_smoothing": self.label_smoothing,
            "network_clip": self.network_clip,
            "activation_ranges": self.activation_ranges,
            "seed": self.seed,
            "window": self.window,
            "window_steps": self.window_steps,
            "teacher": (
                None if self.teacher is None else keras.saving.serialize_keras_object(self.teacher)
            ),
            "distill_temperature": self.distill_temperature,
            "distill_weight": self.distill_weight,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GHNTrainer:
        config = dict(config)
        config["ghn"] = keras.saving.deserialize_keras_object(config["ghn"])
        if config.get("teacher") is not None:
            config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return cls(**config)
