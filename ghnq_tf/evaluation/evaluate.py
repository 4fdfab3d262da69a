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
import inspect
import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ghnq_tf._keras import keras
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
from ghnq_tf.evaluation.report import RESULT_FILE, summarize, write_outputs
from ghnq_tf.evaluation.runner import run_chunk
from ghnq_tf.quant.mse_ranges import check_ranges

#: Settings that do not change per-architecture results (ignored when resuming).
_RESUME_IGNORED = ("num_archs", "batch_size", "ghn_batch")


@functools.lru_cache(maxsize=1)
def _ghn_defaults() -> dict[str, Any]:
    from ghnq_tf.hypernet.ghn import GHN

    parameters = inspect.signature(GHN.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a resumed run must share: without the ignored ones, and
    each GHN's config without options at their defaults (a GHN option added
    after a run started must not block resuming it)."""
    defaults, unset = _ghn_defaults(), object()
    result = {}
    for key, value in config.items():
        if key in _RESUME_IGNORED:
            continue
        if isinstance(value, dict) and isinstance(value.get("config"), dict):
            kept = {k: v for k, v in value["config"].items() if defaults.get(k, unset) != v}
            value = {**value, "config": kept}
        result[key] = value
    return result


def _previous(output_dir: str | None, config: dict[str, Any], resume: bool) -> dict[str, Any]:
    """Finished per-architecture records of an earlier run with the same settings."""
    if output_dir is None:
        return {}
    path = Path(output_dir) / RESULT_FILE
    if not path.is_file() or not resume:
        return {}
    old = json.loads(path.read_text())
    mine = _comparable(json.loads(json.dumps(config)))
    theirs = _comparable({"test_split": "test", **old.get("config", {})})  # its default
    if mine != theirs:
        differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        raise ValueError(
            f"`output_dir` {output_dir!r} holds an evaluation with other settings (they "
            f"differ in: {', '.join(differ)}). Use another `output_dir`, or `resume=False` "
            "to overwrite it."
        )
    return {record["name"]: _int_bits(record) for record in old.get("archs", [])}


def _int_bits(record: dict[str, Any]) -> dict[str, Any]:
    """JSON turned the bits keys into strings; turn them back."""
    for key in ("accuracy", "loss", "qat_loss"):
        if key in record:
            record[key] = {
                m: {int(b): v for b, v in values.items()} if isinstance(values, dict) else values
                for m, values in record[key].items()
            }
    for key in ("seconds_per_bits",):
        if key in record:
            record[key] = {int(b): v for b, v in record[key].items()}
    return record


class _Progress:
    """The progress bar: its position and the running mean GHN top-1 per bitwidth.

    Args:
        total: evaluations the run makes (resumed ones included).
        bits: the bitwidths.
        show: draw a `keras.utils.Progbar` (else only count).
    """

    def __init__(self, total: int, bits: Sequence[int], *, show: bool) -> None:
        self.count = 0
        self.sums = {b: [0.0, 0] for b in bits}
        names = [f"ghn_w{b}" for b in bits]
        self.bar = (
            keras.utils.Progbar(total, unit_name="eval", stateful_metrics=names) if show else None
        )

    def tick(self, method: str, b: int, accuracy: float, *, show: bool = True) -> None:
        """One evaluation done: `method`'s top-1 at `b` bits."""
        self.count += 1
        if method == bl.GHN:
            self.sums[b][0] += accuracy
            self.sums[b][1] += 1
        if show:
            self.show()

    def show(self) -> None:
        """Draws the bar at its position with the running means."""
        if self.bar is not None:
            means = [(f"ghn_w{b}", s / n) for b, (s, n) in self.sums.items() if n]
            self.bar.update(self.count, values=means)

    def state(self) -> tuple[int, dict[int, tuple[float, int]]]:
        """A copy of the position and the sums, for `restore`."""
        return self.count, {b: (s, n) for b, (s, n) in self.sums.items()}

    def restore(self, state: tuple[int, dict[int, tuple[float, int]]], *, skip: int = 0) -> None:
        """Back to `state` (dropping a failed run's ticks), then `skip` units on."""
        self.count = state[0] + skip
        self.sums = {b: [s, n] for b, (s, n) in state[1].items()}
        self.show()


def _run_isolating_failures(
    run: Any, archs: list[Any], units: Any, progress: _Progress
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runs a chunk; if it raises, each architecture alone, recording failures.

    Args:
        run: `run_chunk` with every argument but the architectures bound.
        archs: the chunk.
        units: arch → its progress-bar units (evaluations it ticks).
        progress: the `_Progress`. A failed run's ticks are taken back, so
            the running means hold finished networks only, and the bar moves
            past a failed architecture so that it still ends at its total.

    Returns:
        (records of the architectures that ran, failures: `{**info, index,
        name, error}` of the ones that raised).
    """
    start = progress.state()
    try:
        return run(archs), []
    except Exception as err:  # noqa: BLE001 - a per-network error is recorded, not raised
        if len(archs) == 1:
            arch = archs[0]
            failure = {**arch.info, "index": arch.index, "name": arch.name}
            failure["error"] = f"{type(err).__name__}: {err}"
            warnings.warn(f"{arch.name} failed and is skipped: {failure['error']}", stacklevel=3)
            progress.restore(start, skip=units(arch))
            return [], [failure]
    progress.restore(start)
    records, failures = [], []
    for arch in archs:
        part, failed = _run_isolating_failures(run, [arch], units, progress)
        records += part
        failures += failed
    return records, failures


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
    for name, value in (
        ("batch_size", batch_size),
        ("calibration_steps", calibration_steps),
        ("calibration_batch_size", calibration_batch_size),
        ("scratch_steps", scratch_steps),
        ("scratch_batch_size", scratch_batch_size),
        ("ghn_batch", ghn_batch),
    ):
        positive_int(value, name)
    positive_int(limit, "limit", optional=True)
    positive_int(image_size, "image_size", optional=True)
    if isinstance(scratch_archs, bool) or not isinstance(scratch_archs, int) or scratch_archs < 0:
        raise ValueError(
            f"`scratch_archs` must be an int >= 0. Received: scratch_archs={scratch_archs!r}"
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
    config = {
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
        "ghn": describe_ghn(ghn_model, ghn),
        "float_ghn": describe_ghn(float_model, float_ghn) if float_model else None,
        "float_ghn_bits": float_ghn_bits,
        "qat_scratch": budget.to_dict() if bl.QAT_SCRATCH in methods else None,
        "seed": seed,
        "batch_size": batch_size,
        "ghn_batch": ghn_batch,
    }
    done = _previous(None if output_dir is None else str(output_dir), config, resume)
    predictors = {bl.GHN: (ghn_model, True, None), bl.NO_MESSAGE_PASSING: (ghn_model, False, None)}
    if float_model is not None:
        predictors[bl.FLOAT_GHN] = (float_model, True, float_ghn_bits)
    predictors = {m: v for m, v in predictors.items() if m in methods}

    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    per_arch = len(bits) * len([m for m in methods if m != bl.QAT_SCRATCH])

    def units(arch: Any) -> int:  # evaluations one architecture ticks
        return per_arch + len(bits) * (arch.index < budget.archs)

    tracker = _Progress(sum(units(a) for a in archs), bits, show=progress)
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
        resumed = [done[a.name] for a in chunk if a.name in done]
        records.extend(resumed)
        resumed_seconds[0] += sum(r.get("seconds", 0.0) for r in resumed)
        for r in resumed:
            for method, values in r["accuracy"].items():
                for b, accuracy in values.items():
                    tracker.tick(method, b, accuracy, show=False)
        if resumed:
            tracker.show()
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
                done_records, errors = _run_isolating_failures(run, todo, units, tracker)
                records.extend(done_records)
                failed.extend(errors)
            else:
                records.extend(run(todo))
            records.sort(key=lambda r: r["index"])
        if output_dir is not None:
            write_outputs(result(complete=first + ghn_batch >= len(archs)), output_dir)
    return result(complete=True)


__all__ = ["evaluate"]
