"""`search_bits`: mixed-precision bit allocation with the GHN as a zero-training judge.

Keras Tuner's oracle proposes 2, 4 or 8 bits per weighted layer (one
`hp.Choice` per layer, the reference bitwidth as default, so a fresh search
first scores the uniform policy). A proposal over the weight-bit budget is
repaired deterministically: the layer holding the most weight bits is
lowered one step (8 → 4 → 2) until the policy fits. Each candidate is
scored by the top-1 accuracy of GHN-predicted, calibrated parameters on a
small labeled batch (`PolicyEvaluator`); nothing is trained.

Example:
    policy = gq.tuning.search_bits(model, ghn=ghn, data=(x_val[:256], y_val[:256]))
    qmodel = gq.predict(model, bits=policy, ghn=ghn, calibration_data=x_val[:256])
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner
import numpy as np

from ghnq_tf._keras import check_tf_keras_model, keras, tf
from ghnq_tf.tuning.evaluator import PolicyEvaluator
from ghnq_tf.tuning.oracles import make_oracle, objective

OBJECTIVE = "val_accuracy"
_COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED


def _is_bits(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= 8


def repair(
    assignment: Mapping[str, int],
    counts: Mapping[str, int],
    choices: Sequence[int],
    budget: float,
) -> dict[str, int]:
    """Lowers bits until Σ counts × bits ≤ budget (largest weight memory first).

    Args:
        assignment: {layer key: bits}.
        counts: {layer key: kernel weights}, in model order (ties go to the
            earlier layer).
        choices: the allowed bitwidths.
        budget: total weight bits.

    Returns:
        The repaired assignment (unchanged when it fits).

    Example:
        >>> repair({"a": 8, "b": 8}, {"a": 10, "b": 1}, (2, 4, 8), 44)
        {'a': 2, 'b': 8}
    """
    steps = sorted(choices)
    result = {key: int(assignment[key]) for key in counts}
    cost = sum(counts[k] * result[k] for k in counts)
    order = list(counts)
    while cost > budget:
        lowerable = [k for k in order if result[k] > steps[0]]
        if not lowerable:
            break
        key = max(lowerable, key=lambda k: (counts[k] * result[k], -order.index(k)))
        lower = max(b for b in steps if b < result[key])
        cost -= counts[key] * (result[key] - lower)
        result[key] = lower
    return result


class BitTuner(keras_tuner.Tuner):
    """Keras Tuner over per-layer weight bits, scored by a `PolicyEvaluator`.

    Example:
        tuner = BitTuner(PolicyEvaluator(model, ghn=ghn, images=x, labels=y),
                         budget=None, max_trials=20, directory="runs/bits")
        tuner.search()
        tuner.best_policy()

    Args:
        evaluator: scores candidates of one model.
        budget: total weight bits (None: every layer at the evaluator's
            reference bits).
        oracle: "random", "bayesian" or a Keras Tuner oracle maximizing
            `val_accuracy`.
        max_trials: candidates proposed (repaired duplicates are scored once).
        seed: the oracle's seed.
        directory: where trials are stored (resumable).
        project_name: the search's folder in `directory`.
        overwrite: True starts afresh; False resumes.
    """

    def __init__(
        self,
        evaluator: PolicyEvaluator,
        *,
        budget: float | None = None,
        oracle: str | keras_tuner.Oracle = "random",
        max_trials: int = 30,
        seed: int | None = 0,
        directory: str = "runs/search_bits",
        project_name: str = "bits",
        overwrite: bool = False,
    ) -> None:
        self.evaluator = evaluator
        self.budget = float(evaluator.weight_bits({}) if budget is None else budget)
        self._scores: dict[tuple[int, ...], dict[str, float]] = {}
        if isinstance(oracle, str):
            if oracle not in ("random", "bayesian"):
                raise ValueError(
                    f'`oracle` must be "random", "bayesian" or a Keras Tuner oracle. '
                    f"Received: oracle={oracle!r}"
                )
            hp = keras_tuner.HyperParameters()
            default = max(
                [c for c in evaluator.choices if c <= evaluator.reference_bits]
                or [evaluator.choices[0]]
            )
            for key in evaluator.layers:
                hp.Choice(key, list(evaluator.choices), default=default)
            oracle = make_oracle(
                oracle,
                objective=objective(OBJECTIVE),
                max_trials=max_trials,
                hyperparameters=hp,
                seed=seed,
            )
        super().__init__(
            oracle, directory=directory, project_name=project_name, overwrite=overwrite
        )

    def assignment(self, values: Mapping[str, Any]) -> dict[str, int]:
        """The repaired {layer key: bits} of a trial's hyperparameter values."""
        ev = self.evaluator
        proposed = {key: int(values.get(key, ev.reference_bits)) for key in ev.layers}
        return repair(proposed, ev.weight_counts, ev.choices, self.budget)

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
        """Scores the trial's repaired policy (once per distinct policy)."""
        assignment = self.assignment(trial.hyperparameters.values)
        key = tuple(assignment[k] for k in self.evaluator.layers)
        if key not in self._scores:
            result = self.evaluator.evaluate(assignment)
            self._scores[key] = {
                OBJECTIVE: result["accuracy"],
                "weight_bits": result["weight_bits"],
                "budget_used": result["weight_bits"] / self.budget,
            }
        return dict(self._scores[key])

    def _completed(self) -> list[Any]:
        trials = [t for t in self.oracle.trials.values() if t.status == _COMPLETED]
        order = {trial_id: i for i, trial_id in enumerate(self.oracle.start_order)}
        return sorted(trials, key=lambda t: (-t.score, order.get(t.trial_id, 0)))  # ties: earliest

    def best_assignment(self) -> dict[str, int]:
        """{layer key: bits} of the best completed trial (ties: the earliest)."""
        trials = self._completed()
        if not trials:
            raise ValueError(f"No completed trial in {self.project_dir!r}: run `search()` first.")
        return self.assignment(trials[0].hyperparameters.values)

    def best_policy(self) -> dict[str, Any]:
        """The best policy, as `gq.quantize` and `gq.predict` take it."""
        return self.evaluator.policy(self.best_assignment())

    def results(self) -> dict[str, Any]:
        """Scores, budget and timings of the search (JSON-able)."""
        ev = self.evaluator
        trials = self._completed()
        best = self.best_assignment()
        times = ev.candidate_times
        return {
            "best_accuracy": float(trials[0].score),
            "best_weight_bits": ev.weight_bits(best),
            "budget": self.budget,
            "trials": len(trials),
            "distinct_candidates_scored": ev.candidates,
            "setup_seconds": ev.setup_seconds,
            "first_candidate_seconds": times[0] if times else None,
            "seconds_per_candidate": statistics.median(times[1:]) if len(times) > 1 else None,
            "bits_histogram": {b: sum(v == b for v in best.values()) for b in ev.choices},
            "policy": {k: list(v) for k, v in self.best_policy().items()},
        }


def _labeled_arrays(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) NumPy arrays from a tuple of arrays or a dataset of batches."""
    if isinstance(data, tuple) and len(data) == 2:
        images, labels = np.asarray(data[0], np.float32), np.asarray(data[1])
    elif isinstance(data, tf.data.Dataset):
        xs, ys = [], []
        for element in data:
            if not isinstance(element, (tuple, list)) or len(element) < 2:
                break
            xs.append(np.asarray(element[0], np.float32))
            ys.append(np.asarray(element[1]))
        if not xs:
            raise ValueError(
                "`data` must yield (images, labels) batches. Received: a dataset with "
                f"element_spec={data.element_spec}"
            )
        images, labels = np.concatenate(xs), np.concatenate(ys)
    else:
        raise TypeError(
            "`data` must be an (images, labels) tuple of arrays or a tf.data.Dataset of "
            f"(images, labels) batches. Received: data={type(data).__name__}"
        )
    labels = labels.reshape(len(labels), -1)
    labels = labels.argmax(-1) if labels.shape[-1] > 1 else labels[:, 0]  # one-hot or ids
    if images.ndim != 4 or len(images) == 0 or len(images) != len(labels):
        raise ValueError(
            "`data` must hold a non-empty batch of NHWC images and as many labels. "
            f"Received: images of shape {images.shape}, {len(labels)} labels"
        )
    return images, labels


def check_budget(budget: Any, *, counts: Mapping[str, int], choices: Sequence[int]) -> None:
    """Raises a Keras-style ValueError for a budget no policy can meet."""
    if budget is None:
        return
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise ValueError(
            "`budget` must be a positive number of weight bits (kernel weights × bits, "
            f"summed over layers) or None. Received: budget={budget!r}"
        )
    floor = min(choices) * sum(counts.values())
    if budget < floor:
        raise ValueError(
            f"`budget` must be at least {floor} bits: every layer at {min(choices)} bits "
            f"({sum(counts.values())} kernel weights). Received: budget={budget!r}"
        )


def search_bits(
    model: keras.Model,
    *,
    ghn: Any = None,
    data: Any,
    budget: float | None = None,
    choices: Sequence[int] = (2, 4, 8),
    reference_bits: int = 4,
    max_activation_bits: int | None = None,
    max_trials: int = 30,
    oracle: str | keras_tuner.Oracle = "random",
    seed: int | None = 0,
    calibration_data: Any = None,
    calibration_steps: int | None = None,
    batch_size: int = 32,
    directory: str | None = None,
    project_name: str | None = None,
    overwrite: bool = False,
    verbose: int = 0,
) -> dict[str, Any]:
    """Assigns 2, 4 or 8 weight bits to each weighted layer under a memory budget.

    Candidates come from a Keras Tuner oracle and are scored, without any
    training, by the top-1 accuracy on `data` of GHN-predicted parameters
    (each layer's parameters predicted at its own bitwidth), calibrated on
    `calibration_data`. The first candidate of a fresh search is the
    uniform `reference_bits` policy; the best one wins (ties: the earliest).

    Example:
        policy = gq.tuning.search_bits(model, ghn=ghn, data=(x[:256], y[:256]),
                                       max_activation_bits=4, max_trials=40)
        qmodel = gq.predict(model, bits=policy, ghn=ghn, calibration_data=x[:256])

    Args:
        model: a built `tf_keras` model.
        ghn: a `gq.GHN`, a bundled name, or None for the default CIFAR-10 GHN.
        data: the scoring batch: an (images, labels) tuple of arrays, or a
            `tf.data.Dataset` of (images, labels) batches (all of it is used).
        budget: total weight bits, Σ kernel weights × bits over weighted
            layers (biases and BatchNorm stay float). None: the memory of
            uniform `reference_bits` weights.
        choices: the bitwidths a layer may take.
        reference_bits: bits of the layers without their own entry (and of
            the activations of the other layers), and of the default budget.
        max_activation_bits: bound on activation bits: a layer at `w` bits
            gets `min(w, max_activation_bits)`-bit activations (None: `w`).
        max_trials: candidates the oracle proposes.
        oracle: "random" or "bayesian" (or a Keras Tuner oracle).
        seed: the oracle's seed.
        calibration_data: unlabeled images for BN statistics and activation
            ranges, as `gq.calibrate` takes (None: the images of `data`).
        calibration_steps: batches of `calibration_data` to use.
        batch_size: batch size for arrays.
        directory: where Keras Tuner stores the trials; an interrupted search
            resumes when called again with the same directory (None: a
            temporary folder, no resume).
        project_name: the search's folder in `directory` (default:
            `bits_<model name>`).
        overwrite: True starts afresh in `directory`.
        verbose: Keras Tuner's progress display.

    Returns:
        A policy `{"default": (b, a), layer_key: (w, a), ...}` that
        `gq.quantize(model, bits=policy)` and `gq.predict(model, bits=policy)`
        accept.

    Raises:
        ValueError: for a budget below every layer at the smallest choice,
            bad bits, or bad data (Keras-style messages).
    """
    from ghnq_tf.data.batches import check_steps, iter_batches
    from ghnq_tf.graph.from_keras import graph_from_keras
    from ghnq_tf.prediction.mixed import weight_counts
    from ghnq_tf.prediction.predict import resolve_ghn

    model = check_tf_keras_model(model)
    if not isinstance(choices, (list, tuple)) or not choices or not all(map(_is_bits, choices)):
        raise ValueError(f"`choices` must be ints in 2..8. Received: choices={choices!r}")
    if not _is_bits(reference_bits):
        raise ValueError(
            f"`reference_bits` must be an int in 2..8. Received: reference_bits={reference_bits!r}"
        )
    if max_activation_bits is not None and not _is_bits(max_activation_bits):
        raise ValueError(
            "`max_activation_bits` must be None or an int in 2..8. Received: "
            f"max_activation_bits={max_activation_bits!r}"
        )
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(
            f"`max_trials` must be a positive int. Received: max_trials={max_trials!r}"
        )
    if isinstance(oracle, str) and oracle not in ("random", "bayesian"):
        raise ValueError(
            f'`oracle` must be "random", "bayesian" or a Keras Tuner oracle. '
            f"Received: oracle={oracle!r}"
        )
    calibration_steps = check_steps(calibration_steps, "calibration_steps")
    graph = graph_from_keras(model)
    counts = weight_counts(graph)
    if not counts:
        raise ValueError(
            f"Model {model.name!r} has no weighted layer (Conv2D, DepthwiseConv2D, "
            f"SeparableConv2D, Dense) to assign bits to. Received: model={model.name!r}"
        )
    check_budget(budget, counts=counts, choices=choices)
    images, labels = _labeled_arrays(data)
    calibration = None
    if calibration_data is not None:
        calibration = list(
            iter_batches(
                calibration_data,
                batch_size=batch_size,
                steps=calibration_steps,
                arg_name="calibration_data",
            )
        )
    elif calibration_steps is not None:
        calibration = list(iter_batches(images, batch_size=batch_size, steps=calibration_steps))
    evaluator = PolicyEvaluator(
        model,
        ghn=resolve_ghn(ghn),
        images=images,
        labels=labels,
        calibration_batches=calibration,
        choices=choices,
        reference_bits=reference_bits,
        max_activation_bits=max_activation_bits,
        batch_size=batch_size,
        graph=graph,
    )
    with tempfile.TemporaryDirectory(prefix="ghnq_bits_") as scratch:
        tuner = BitTuner(
            evaluator,
            budget=budget,
            oracle=oracle,
            max_trials=max_trials,
            seed=seed,
            directory=directory or scratch,
            project_name=project_name or f"bits_{model.name}",
            overwrite=overwrite,
        )
        tuner.search(verbose=verbose)
        return tuner.best_policy()
