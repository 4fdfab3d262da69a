"""`gq.evaluate`: top-1 of predicted, quantized, calibrated parameters over a split.

For every architecture of a split and every bitwidth, each method's
parameters (see `ghnq_tf.evaluation.baselines`) go into one quantize-aware
network, which is calibrated on shuffled *training* images (`gq.calibrate`:
BN statistics and activation ranges; predicted BN layers carry no moving
statistics of their own) and evaluated in inference mode on the whole test
split. Work is shared wherever the result cannot change:

* each architecture is built and wrapped by tfmot once, then re-targeted to
  the other bitwidths (`ghnq_tf.quant.retarget`, exact);
* its calibration passes are traced once per bitwidth and reused by every
  method (`Calibrator`, bit-identical to `gq.calibrate`), as is the traced
  inference function;
* the GHN predicts a chunk of architectures in one call per bitwidth;
* test and calibration images are decoded once and kept in memory.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from typing import Any

from ghnq_tf.evaluation import baselines as bl
from ghnq_tf.evaluation.inputs import (
    EvalData,
    check_bits,
    check_split,
    describe_ghn,
    positive_int,
    resolve_data,
    resolve_ghn,
    split_archs,
    split_label,
)
from ghnq_tf.evaluation.progress import Progress, run_isolating_failures
from ghnq_tf.evaluation.report import summarize, write_outputs
from ghnq_tf.evaluation.resume import previous_records
from ghnq_tf.evaluation.runner import run_chunk
from ghnq_tf.quant.mse_ranges import check_ranges


def evaluate(
    ghn: Any,
    *,
    split: str | Sequence[dict[str, Any]] = "test",
    bits: int | Sequence[int] = (8, 4, 2),
    data: str = "cifar10",
    num_archs: int | None = None,
    image_size: int | None = None,
    batch_size: int = 250,
    limit: int | None = None,
    test_split: str = "test",
    calibration_split: str = "train",
    calibration_steps: int = 8,
    calibration_batch_size: int = 64,
    ranges: str = "mse",
    baselines: Sequence[str] | None = None,
    float_ghn: Any = None,
    float_ghn_bits: int | None = None,
    scratch_archs: int = 10,
    scratch_steps: int = 500,
    scratch_batch_size: int = 64,
    scratch_learning_rate: float = 1e-3,
    ghn_batch: int = 8,
    seed: int = 0,
    output_dir: str | os.PathLike | None = None,
    resume: bool = True,
    skip_failures: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Top-1 of GHN-predicted parameters after quantization, beside baselines.

    For each architecture of `split` and each bitwidth in `bits`: the
    network is quantized (W*b*A*b*, tfmot), receives each method's
    parameters, is calibrated on `calibration_steps` shuffled batches of the
    *training* split (BN statistics and activation ranges, as `gq.calibrate`)
    and evaluated in inference mode on the whole test split (or its first
    `limit` images). Methods: `ghn`, and the baselines `float_ghn`,
    `no_message_passing`, `random`, `qat_scratch` (see
    `ghnq_tf.evaluation.baselines`).

    Example:
        result = gq.evaluate(
            gq.GHN.load("ghn.keras"), split="test", bits=(8, 4, 2),
            data="cifar10", output_dir="eval/")
        result["methods"]["ghn"][4]["mean"]  # mean W4A4 top-1 over the split

    Args:
        ghn: a `gq.GHN`, a `.keras` checkpoint path, or a bundled name.
        split: a search-space split (`test`, `val`, `wide`, `deep`, `bnfree`,
            `train` with `num_archs`), `"applications"` (the ten
            `tf_keras.applications` models), or a list of architecture specs
            (`gq.search_space` dicts, named `arch[i]`).
        bits: bitwidths in 2..8, e.g. `(8, 4, 2)`.
        data: a `gq.data.load` name: `"cifar10"` (TensorFlow Datasets,
            downloaded on first use), `"digits"`, or `"image_folder:<path>"`
            for a local copy.
        num_archs: evaluate the first `num_archs` of the split (None: all).
        image_size: side of the images and networks (None: the dataset's).
        batch_size: test images per inference call (speed only).
        limit: evaluate on the first `limit` test images (None: all of them).
        test_split: the data split scored. `"train[-2000:]"` scores held-out
            training images, for model selection that never sees the test
            images (pair it with `calibration_split="train[:-2000]"`).
        calibration_split: the data split calibration and QAT images are
            drawn from.
        calibration_steps: training batches used for calibration.
        calibration_batch_size: images per calibration batch.
        ranges: quantizer ranges set by calibration: `"mse"` (least-squares,
            the default) or `"minmax"` (tfmot's), as `gq.calibrate` takes.
        baselines: baseline names (None: all; `float_ghn` only if given).
        float_ghn: a float-trained GHN (same forms as `ghn`), or None.
        float_ghn_bits: the bitwidth the float GHN is told (None: the
            evaluated one, as for `ghn`).
        scratch_archs: `qat_scratch` runs on the first `scratch_archs`.
        scratch_steps: QAT steps per network and bitwidth.
        scratch_batch_size: images per QAT step.
        scratch_learning_rate: Adam's learning rate for QAT.
        ghn_batch: architectures per GHN call (and kept in memory at once).
        seed: seeds network i's Keras initialization
            (`keras.utils.set_random_seed(seed * 1_000_003 + i)`) and the
            shuffle of calibration and QAT images (`tf.random.set_seed(seed)`
            and `seed=seed`). The global seeds are left changed.
        output_dir: where to write `evaluation.json`, `evaluation.md` and
            `evaluation.png` (rewritten after every chunk of architectures).
        resume: reuse the finished architectures of an `evaluation.json` in
            `output_dir` made with the same settings.
        skip_failures: when an architecture fails (an exception while it is
            built, quantized, predicted or evaluated), record it in `failed`
            and go on with the next, instead of stopping the run. Failed
            architectures are retried on resume.
        progress: show a progress bar.

    Returns:
        A dict: `config` (every setting, the data, the GHNs, the QAT budget),
        `methods` ({method: {bits: {mean, std, min, max, num_archs,
        mean_loss, per_arch}}}), `archs` (per architecture: top-1 and test
        cross-entropy per method and bitwidth, wall time per stage and per
        bitwidth), `seconds` (this call's wall time), `resumed_seconds` (the
        summed per-architecture time of the architectures reused from an
        earlier run), `majority_share` (the top-1 of always predicting the
        commonest test label: chance on these test images), `failed` (the
        architectures that raised, with the error; empty unless
        `skip_failures`) and `complete`.

    Raises:
        ValueError: for an unknown split or baseline, `bits` outside 2..8, a
            bad count, or a dataset without the needed splits.
        FileNotFoundError: for a missing GHN checkpoint or image folder.
    """
    bits = check_bits(bits)
    split = check_split(split)
    ranges = check_ranges(ranges)
    _check_counts(
        batch_size=batch_size,
        calibration_steps=calibration_steps,
        calibration_batch_size=calibration_batch_size,
        scratch_steps=scratch_steps,
        scratch_batch_size=scratch_batch_size,
        ghn_batch=ghn_batch,
        limit=limit,
        image_size=image_size,
        scratch_archs=scratch_archs,
    )
    if float_ghn_bits is not None:
        float_ghn_bits = check_bits(float_ghn_bits, arg_name="float_ghn_bits")[0]
    archs = split_archs(split, num_archs, image_size)
    methods = bl.check_baselines(baselines, float_ghn=float_ghn)
    ghn_model = resolve_ghn(ghn, "ghn")
    float_model = resolve_ghn(float_ghn, "float_ghn") if float_ghn is not None else None
    data = resolve_data(data)
    budget = bl.ScratchBudget(
        archs=scratch_archs if bl.QAT_SCRATCH in methods else 0,
        steps=scratch_steps,
        batch_size=scratch_batch_size,
        learning_rate=float(scratch_learning_rate),
    )
    source = EvalData(
        data,
        limit=limit,
        calibration_steps=calibration_steps,
        calibration_batch_size=calibration_batch_size,
        ranges=ranges,
        seed=seed,
        test_split=test_split,
        calibration_split=calibration_split,
    )
    config = _run_config(
        split=split,
        archs=archs,
        bits=bits,
        data=data,
        image_size=image_size,
        source=source,
        test_split=test_split,
        limit=limit,
        calibration_split=calibration_split,
        calibration_steps=calibration_steps,
        calibration_batch_size=calibration_batch_size,
        ranges=ranges,
        methods=methods,
        ghn=(ghn_model, ghn),
        float_ghn=(float_model, float_ghn),
        float_ghn_bits=float_ghn_bits,
        budget=budget,
        seed=seed,
        batch_size=batch_size,
        ghn_batch=ghn_batch,
    )
    done = previous_records(None if output_dir is None else str(output_dir), config, resume)
    predictors = _predictors(methods, ghn_model, float_model, float_ghn_bits)

    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    per_arch = len(bits) * len([m for m in methods if m != bl.QAT_SCRATCH])

    def units(arch: Any) -> int:  # evaluations one architecture ticks
        return per_arch + len(bits) * (arch.index < budget.archs)

    tracker = Progress(sum(units(a) for a in archs), bits, show=progress)
    failed: list[dict[str, Any]] = []
    resumed_seconds = [0.0]

    def result(complete: bool) -> dict[str, Any]:
        return {
            "config": config,
            "methods": summarize(records, methods, bits),
            "archs": records,
            "seconds": time.perf_counter() - start,
            "resumed_seconds": resumed_seconds[0],
            "majority_share": source.majority_share(),
            "failed": failed,
            "complete": complete,
        }

    for first in range(0, len(archs), ghn_batch):
        chunk = archs[first : first + ghn_batch]
        todo = [a for a in chunk if a.name not in done]
        resumed = _resumed(chunk, done, tracker)
        records.extend(resumed)
        resumed_seconds[0] += sum(r.get("seconds", 0.0) for r in resumed)
        if todo:
            run = functools.partial(
                run_chunk,
                bits=bits,
                methods=methods,
                predictors=predictors,
                source=source,
                budget=budget,
                batch_size=batch_size,
                seed=seed,
                tick=tracker.tick,
            )
            if skip_failures:
                done_records, errors = run_isolating_failures(run, todo, units, tracker)
                records.extend(done_records)
                failed.extend(errors)
            else:
                records.extend(run(todo))
            records.sort(key=lambda r: r["index"])
        if output_dir is not None:
            write_outputs(result(complete=first + ghn_batch >= len(archs)), output_dir)
    return result(complete=True)


def _resumed(chunk: list[Any], done: dict[str, Any], tracker: Progress) -> list[dict[str, Any]]:
    """The records of `chunk` finished by an earlier run, ticked off on the progress bar."""
    resumed = [done[a.name] for a in chunk if a.name in done]
    for r in resumed:
        for method, values in r["accuracy"].items():
            for b, accuracy in values.items():
                tracker.tick(method, b, accuracy, show=False)
    if resumed:
        tracker.show()
    return resumed


def _check_counts(*, limit: Any, image_size: Any, scratch_archs: Any, **counts: Any) -> None:
    """Raises a Keras-style ValueError for a count that is not a positive int."""
    for name, value in counts.items():
        positive_int(value, name)
    positive_int(limit, "limit", optional=True)
    positive_int(image_size, "image_size", optional=True)
    if isinstance(scratch_archs, bool) or not isinstance(scratch_archs, int) or scratch_archs < 0:
        raise ValueError(
            f"`scratch_archs` must be an int >= 0. Received: scratch_archs={scratch_archs!r}"
        )


def _run_config(
    *,
    split: Any,
    archs: list[Any],
    bits: Sequence[int],
    data: str,
    image_size: int | None,
    source: EvalData,
    test_split: str,
    limit: int | None,
    calibration_split: str,
    calibration_steps: int,
    calibration_batch_size: int,
    ranges: str,
    methods: Sequence[str],
    ghn: tuple[Any, Any],
    float_ghn: tuple[Any, Any],
    float_ghn_bits: int | None,
    budget: bl.ScratchBudget,
    seed: int,
    batch_size: int,
    ghn_batch: int,
) -> dict[str, Any]:
    """The `config` of the result: every setting, the data, the GHNs, the QAT budget.

    `ghn` and `float_ghn` are (loaded GHN or None, as the caller passed it).
    """
    return {
        "split": split_label(split),
        "specs": None if isinstance(split, str) else [a.info["spec_hash"] for a in archs],
        "num_archs": len(archs),
        "bits": list(bits),
        "data": data,
        "image_size": image_size,
        "num_classes": source.num_classes,
        "test_split": test_split,
        "test_images": source.test_images,
        "limit": limit,
        "calibration": {
            "split": calibration_split,
            "shuffled": True,
            "steps": calibration_steps,
            "batch_size": calibration_batch_size,
            "ranges": ranges,
            "procedure": "gq.calibrate: pooled BN statistics, then mean per-batch ranges",
        },
        "inference": "training=False: calibrated BN moving statistics and activation ranges",
        "methods": list(methods),
        "ghn": describe_ghn(*ghn),
        "float_ghn": describe_ghn(*float_ghn) if float_ghn[0] else None,
        "float_ghn_bits": float_ghn_bits,
        "qat_scratch": budget.to_dict() if bl.QAT_SCRATCH in methods else None,
        "seed": seed,
        "batch_size": batch_size,
        "ghn_batch": ghn_batch,
    }


def _predictors(
    methods: Sequence[str], ghn_model: Any, float_model: Any, float_ghn_bits: int | None
) -> dict[str, tuple[Any, bool, int | None]]:
    """{method: (GHN, message passing, bitwidth it is told or None)} of the GHN methods."""
    predictors = {bl.GHN: (ghn_model, True, None), bl.NO_MESSAGE_PASSING: (ghn_model, False, None)}
    if float_model is not None:
        predictors[bl.FLOAT_GHN] = (float_model, True, float_ghn_bits)
    return {m: v for m, v in predictors.items() if m in methods}


__all__ = ["evaluate"]
