"""Keras Tuner oracles by name; random and Bayesian ones try the defaults first.

The first trial of a fresh search evaluates every hyperparameter's default
value (for `GHNTuner`: the base training config; for `search_bits`: the
uniform reference bitwidth), so the best trial is never worse than the
starting point on the objective. Later trials are the oracle's own.

Example:
    oracle = make_oracle("random", objective=objective("val_accuracy"), max_trials=10,
                         hyperparameters=hp, seed=0)
"""

from __future__ import annotations

from typing import Any

import keras_tuner

ORACLES = ("random", "bayesian", "hyperband")
_RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING


def objective(name: str = "val_accuracy") -> keras_tuner.Objective:
    """A maximized Keras Tuner objective."""
    return keras_tuner.Objective(name, direction="max")


def default_values(hyperparameters: keras_tuner.HyperParameters) -> dict[str, Any]:
    """{name: default value} of every hyperparameter of the space."""
    return {hp.name: hp.default for hp in hyperparameters.space}


class _DefaultsFirst:
    """Makes the first trial of a fresh search the space's default values."""

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if not self.trials:
            values = default_values(self.hyperparameters)
            if values and not self._duplicate(values):
                return {"status": _RUNNING, "values": values}
        return super().populate_space(trial_id)


class RandomSearchOracle(_DefaultsFirst, keras_tuner.oracles.RandomSearchOracle):
    """`keras_tuner.oracles.RandomSearchOracle`, defaults first."""


class BayesianOptimizationOracle(_DefaultsFirst, keras_tuner.oracles.BayesianOptimizationOracle):
    """`keras_tuner.oracles.BayesianOptimizationOracle`, defaults first."""


def make_oracle(
    name: str,
    *,
    objective: keras_tuner.Objective,
    max_trials: int,
    hyperparameters: keras_tuner.HyperParameters,
    seed: int | None = 0,
    max_epochs: int = 3,
    factor: int = 3,
    hyperband_iterations: int = 1,
    num_initial_points: int | None = None,
) -> keras_tuner.Oracle:
    """A Keras Tuner oracle by name: "random", "bayesian" or "hyperband".

    Args:
        name: the search algorithm.
        objective: what to maximize.
        max_trials: trials at most (random and Bayesian; Hyperband's count
            follows from `max_epochs` and `factor`).
        hyperparameters: the search space.
        seed: the oracle's random seed (None: a random one); the same seed
            proposes the same trials.
        max_epochs: Hyperband: most epochs any configuration trains.
        factor: Hyperband: reduction factor between brackets.
        hyperband_iterations: Hyperband: how many times to run the algorithm.
        num_initial_points: Bayesian: random trials before the Gaussian
            process (default: 3 × the number of hyperparameters).

    Returns:
        The oracle.
    """
    # Keras Tuner reads a seed of 0 as "no seed" (`seed or random.randint(...)`).
    kt_seed = None if seed is None else int(seed) + 1
    common = {"objective": objective, "hyperparameters": hyperparameters, "seed": kt_seed}
    if name == "random":
        return RandomSearchOracle(max_trials=max_trials, **common)
    if name == "bayesian":
        return BayesianOptimizationOracle(
            max_trials=max_trials, num_initial_points=num_initial_points, **common
        )
    if name == "hyperband":
        return keras_tuner.oracles.HyperbandOracle(
            max_epochs=max_epochs,
            factor=factor,
            hyperband_iterations=hyperband_iterations,
            **common,
        )
    raise ValueError(f"`oracle` must be one of {ORACLES}. Received: oracle={name!r}")
