"""The per-architecture work of `gq.evaluate`, one chunk of architectures at a time.

Each network is built (seeded Keras initialization), described as a graph and
wrapped by tfmot once; then, per bitwidth, it is re-targeted
(`ghnq_tf.quant.retarget`), and each method's parameters are written into it,
calibrated (`Calibrator`: `gq.calibrate` with its traced passes reused) and
evaluated by one traced inference function shared by all methods.

Example:
    records = run_chunk(archs, bits=(8, 4), methods=("ghn", "random"), ...)
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable
from typing import Any

from ghnq_tf._keras import keras, tf
from ghnq_tf.evaluation import baselines as bl
from ghnq_tf.evaluation.inputs import EvalData
from ghnq_tf.graph.from_keras import graph_from_keras
from ghnq_tf.quant import quantize
from ghnq_tf.quant.calibration import Calibrator
from ghnq_tf.quant.retarget import retarget
from ghnq_tf.quant.variables import inject, target_list


class _Clock:
    """Adds the seconds between laps to a dict of stages."""

    def __init__(self, stages: dict[str, float]) -> None:
        self.stages = stages
        self.last = time.perf_counter()

    def lap(self, stage: str) -> float:
        now = time.perf_counter()
        spent = now - self.last
        self.stages[stage] = self.stages.get(stage, 0.0) + spent
        self.last = now
        return spent


def metrics_fn(qmodel: keras.Model, shape: tuple[int, ...], *, from_logits: bool = True) -> Any:
    """Traced inference: (correct top-1 count, summed cross-entropy) of a batch.

    Trace it again after `retarget` (the trace froze the bits).

    Args:
        qmodel: the (calibrated) quantize-aware model, run with `training=False`.
        shape: the shape of one image.
        from_logits: whether the model outputs logits (else probabilities).

    Returns:
        A `tf.function` (images, int32 labels) → (int32 count, float32 loss sum),
        for any batch size.

    Example:
        fn = metrics_fn(qmodel, (32, 32, 3))
        top1_and_loss(fn, x_test, y_test, 250)
    """
    spec = [tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.int32)]

    @tf.function(input_signature=spec, autograph=False)  # smart_cond only: traces faster
    def metrics(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        outputs = qmodel(x, training=False)
        predicted = tf.argmax(outputs, axis=-1, output_type=tf.int32)
        hits = tf.reduce_sum(tf.cast(tf.equal(predicted, y), tf.int32))
        losses = keras.losses.sparse_categorical_crossentropy(y, outputs, from_logits=from_logits)
        return hits, tf.reduce_sum(losses)

    return metrics


def top1_and_loss(fn: Any, x: tf.Tensor, y: tf.Tensor, batch_size: int) -> tuple[float, float]:
    """Top-1 and mean cross-entropy over all of `x` (labels `y`), in batches.

    Example:
        top1_and_loss(metrics_fn(qmodel, (32, 32, 3)), x_test, y_test, 250)
    """
    hits, loss = 0, 0.0
    for start in range(0, int(x.shape[0]), batch_size):
        h, l_sum = fn(x[start : start + batch_size], y[start : start + batch_size])
        hits, loss = hits + int(h), loss + float(l_sum)
    return hits / int(x.shape[0]), loss / int(x.shape[0])


@dataclasses.dataclass
class _Net:
    """One architecture while its chunk is evaluated."""

    arch: Any
    model: keras.Model
    graph: Any
    qmodel: keras.Model
    targets: list[tf.Variable]
    initial: list[Any]  # qmodel.get_weights() at wrapping: Keras init, tfmot ranges
    calibrator: Calibrator
    record: dict[str, Any]


def _prepare(
    arch: Any, *, bits: int, methods: tuple[str, ...], source: EvalData, seed: int
) -> _Net:
    """Builds (seeded Keras init), describes and wraps one network."""
    stages: dict[str, float] = {}
    clock = _Clock(stages)
    keras.utils.set_random_seed(seed * 1_000_003 + arch.index)
    model = arch.build(source.num_classes, arch.size or source.default_size)
    clock.lap("build")
    graph = graph_from_keras(model)
    clock.lap("graph")
    qmodel = quantize(model, bits=bits)
    targets = target_list(qmodel, model, graph)
    net = _Net(arch, model, graph, qmodel, targets, qmodel.get_weights(), Calibrator(qmodel), {})
    clock.lap("quantize")
    net.record = {
        **arch.info,
        "index": arch.index,
        "name": arch.name,
        "params": int(model.count_params()),
        "nodes": graph.num_nodes,
        "input_shape": list(model.input_shape[1:]),
        "accuracy": {m: {} for m in methods},
        "loss": {m: {} for m in methods},  # mean test cross-entropy
        "seconds_per_bits": {},
        "timings": stages,
    }
    return net


def run_chunk(
    archs: list[Any],
    *,
    bits: tuple[int, ...],
    methods: tuple[str, ...],
    predictors: dict[str, tuple[Any, bool, int | None]],
    source: EvalData,
    budget: bl.ScratchBudget,
    batch_size: int,
    seed: int,
    tick: Callable[[str, int, float], None],
) -> list[dict[str, Any]]:
    """Evaluates a chunk of architectures (one GHN call per method and bitwidth).

    Args:
        archs: the chunk's `inputs.Arch`s.
        bits: bitwidths, in order (the networks are wrapped at the first).
        methods: method names (see `baselines.METHODS`).
        predictors: {method: (GHN, message_passing, bits told or None)} for
            the methods whose parameters a GHN predicts.
        source: the images.
        budget: the QAT-from-scratch budget.
        batch_size: test images per inference call.
        seed: seed of the Keras initialization (`seed * 1_000_003 + index`).
        tick: called with (method, bits, top-1) after each evaluation.

    Returns:
        One record per architecture: top-1 and test loss, wall time per stage
        (`timings`) and per bitwidth (`seconds_per_bits`), `seconds`.

    Example:
        run_chunk(archs, bits=(8, 4), methods=("ghn",), predictors={"ghn": (ghn, True, None)},
                  source=source, budget=ScratchBudget(archs=0), batch_size=250, seed=0,
                  tick=lambda *a: None)
    """
    nets = [_prepare(a, bits=bits[0], methods=methods, source=source, seed=seed) for a in archs]
    for b in bits:
        begin = time.perf_counter()
        graphs = [net.graph for net in nets]
        predicted = {
            method: model.predict_params(graphs, bits=told or b, message_passing=passing)
            for method, (model, passing, told) in predictors.items()
        }
        share = (time.perf_counter() - begin) / len(nets)
        for i, net in enumerate(nets):
            x_test, y_test, x_cal = source.arrays(net.arch.size)  # decoded once: not timed
            record, clock = net.record, _Clock(net.record["timings"])
            clock.stages["ghn"] = clock.stages.get("ghn", 0.0) + share
            retarget(net.qmodel, bits=b)
            metrics = metrics_fn(
                net.qmodel,
                tuple(net.qmodel.input_shape[1:]),
                from_logits=bl.outputs_logits(net.model),
            )
            spent = share + clock.lap("retarget")
            for method in methods:
                if method == bl.QAT_SCRATCH:
                    if net.arch.index >= budget.archs:
                        continue
                    record.setdefault("qat_loss", {})[b] = bl.train_from_scratch(
                        net.qmodel,
                        net.initial,
                        source.train_dataset(net.arch.size, budget=budget),
                        budget=budget,
                        from_logits=bl.outputs_logits(net.model),
                    )
                    spent += clock.lap("qat")
                else:
                    net.qmodel.set_weights(net.initial)
                    if method in predicted:
                        inject(net.targets, predicted[method][i])
                    spent += clock.lap("inject")
                net.calibrator.calibrate(
                    x_cal, batch_size=source.calibration_batch_size, ranges=source.ranges
                )
                spent += clock.lap("calibrate")
                top1, loss = top1_and_loss(metrics, x_test, y_test, batch_size)
                record["accuracy"][method][b], record["loss"][method][b] = top1, loss
                spent += clock.lap("evaluate")
                tick(method, b, record["accuracy"][method][b])
            record["seconds_per_bits"][b] = spent
        del predicted
    records = []
    for net in nets:
        record = net.record
        for key in ("accuracy", "loss"):
            record[key] = {m: v for m, v in record[key].items() if v}
        record["seconds"] = sum(record["timings"].values())
        records.append(record)
    del nets
    gc.collect()
    return records


__all__ = ["metrics_fn", "run_chunk", "top1_and_loss"]
