"""`GHNTuner`: Keras Tuner over GHN hyperparameters, with a short training per trial.

keras-tuner 1.4.8 runs on Keras 3 and its stock `run_trial` rejects
`tf_keras` models, so `GHNTuner` subclasses `keras_tuner.Tuner` and
overrides `run_trial`: Keras Tuner supplies the oracle (random, Bayesian,
Hyperband), the trial records, resumption and `get_best_hyperparameters`;
each trial trains a GHN with `GHNTrainer` (tf_keras) and returns its
metrics. No tf_keras object is ever handed to Keras Tuner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras_tuner
import yaml

from ghnq_tf._keras import keras, tf
from ghnq_tf.training.config import RunConfig, config_from_dict
from ghnq_tf.tuning.config import TuneConfig, apply_values, check_search, search_hyperparameters
from ghnq_tf.tuning.oracles import make_oracle, objective

OBJECTIVE = "val_accuracy"
_COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED


class GHNTuner(keras_tuner.Tuner):
    """Searches GHN hyperparameters with Keras Tuner, training briefly per trial.

    Each trial trains a GHN from the base training config with the trial's
    values for `trial_epochs × trial_steps` steps (`GHNTrainer`, as `ghnq-tf
    train` does), then reports `val_accuracy`: the mean top-1 of the GHN's
    predicted W{objective_bits}A{objective_bits} parameters on the base
    config's `val` architectures. With a fresh random or Bayesian search
    the first trial is the base config itself. Trials are stored under
    `directory/project_name` (each with its `ghn.keras`); constructing a
    tuner on the same folder with `overwrite=False` resumes the search (an
    interrupted trial is re-run).

    Example:
        base = load_config("configs/digits_w4a4.yaml")
        tuner = gq.tuning.GHNTuner(base, search={"ghn.hidden": [16, 32],
            "training.learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"}},
            max_trials=4, trial_steps=10, directory="runs/tune")
        tuner.search()
        tuner.write_best_config("configs/digits_tuned.yaml")

    Args:
        base_config: the training config trials start from.
        search: {dotted RunConfig key: list of choices, or {min, max,
            step, sampling}} (see `ghnq_tf.tuning.config`).
        oracle: "random", "bayesian", "hyperband", or a Keras Tuner oracle
            (whose objective must be `val_accuracy`, maximized).
        max_trials: trials of a random or Bayesian search.
        seed: the oracle's seed.
        trial_epochs: epochs per trial (Hyperband: its own schedule).
        trial_steps: steps per epoch of a trial.
        validation_steps: validation batches per epoch (None: all).
        objective_bits: bitwidth of the objective's validation.
        directory: where trials are stored.
        project_name: the search's folder name in `directory`.
        overwrite: True starts afresh; False (default) resumes.
        max_epochs: Hyperband's most epochs per configuration.
        factor: Hyperband's reduction factor.
        hyperband_iterations: Hyperband's repetitions.
        num_initial_points: Bayesian: random trials before the model.
        build: spec → tf_keras model (default: `gq.search_space.build`).
    """

    def __init__(
        self,
        base_config: RunConfig,
        *,
        search: Mapping[str, Any],
        oracle: str | keras_tuner.Oracle = "random",
        max_trials: int = 6,
        seed: int | None = 0,
        trial_epochs: int = 1,
        trial_steps: int = 20,
        validation_steps: int | None = 2,
        objective_bits: int = 4,
        directory: str = "runs/tune_ghn",
        project_name: str = "ghn",
        overwrite: bool = False,
        max_epochs: int = 3,
        factor: int = 3,
        hyperband_iterations: int = 1,
        num_initial_points: int | None = None,
        build: Callable[[Any], keras.Model] | None = None,
    ) -> None:
        if not isinstance(base_config, RunConfig):
            raise TypeError(
                f"`base_config` must be a RunConfig (see `load_config`). "
                f"Received: base_config={base_config!r}"
            )
        for name, value in (("trial_epochs", trial_epochs), ("trial_steps", trial_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
        if isinstance(objective_bits, bool) or objective_bits not in range(2, 9):
            raise ValueError(
                "`objective_bits` must be an int in 2..8. "
                f"Received: objective_bits={objective_bits!r}"
            )
        if base_config.strategy == "multi_worker" or "strategy" in search:
            raise ValueError(
                "`GHNTuner` runs each trial under the base config's strategy "
                "('default', 'one_device' or 'mirrored'); to spread trials over "
                "machines use Keras Tuner's distributed tuning instead. Received: "
                f"strategy={search.get('strategy', base_config.strategy)!r}"
            )
        self.base_config = base_config
        self.search_space = dict(search)
        check_search(self.search_space, base_config)
        self.trial_epochs = trial_epochs
        self.trial_steps = trial_steps
        self.validation_steps = validation_steps
        self.objective_bits = objective_bits
        self.build_fn = build
        self._caches: dict[tuple, dict] = {}  # networks shared between trials
        if isinstance(oracle, str):
            oracle = make_oracle(
                oracle,
                objective=objective(OBJECTIVE),
                max_trials=max_trials,
                hyperparameters=search_hyperparameters(self.search_space, base_config),
                seed=seed,
                max_epochs=max_epochs,
                factor=factor,
                hyperband_iterations=hyperband_iterations,
                num_initial_points=num_initial_points,
            )
        self._hyperband = isinstance(oracle, keras_tuner.oracles.HyperbandOracle)
        self.max_epochs = max_epochs
        super().__init__(
            oracle, directory=directory, project_name=project_name, overwrite=overwrite
        )

    @classmethod
    def from_tune_config(cls, config: TuneConfig, **kwargs: Any) -> GHNTuner:
        """A tuner as a tune config (`configs/tune_ghn.yaml`) describes it."""
        t, trial = config.tuner, config.trial
        options = {
            "search": config.search,
            "oracle": t.oracle,
            "max_trials": t.max_trials,
            "seed": t.seed,
            "trial_epochs": trial.epochs,
            "trial_steps": trial.steps_per_epoch,
            "validation_steps": trial.validation_steps,
            "objective_bits": trial.objective_bits,
            "directory": t.directory,
            "project_name": t.project_name,
            "max_epochs": t.max_epochs,
            "factor": t.factor,
            "hyperband_iterations": t.hyperband_iterations,
            "num_initial_points": t.num_initial_points,
        }
        return cls(config.base(), **{**options, **kwargs})

    # ---------------------------------------------------------------- trials
    def trial_config(self, hyperparameters: keras_tuner.HyperParameters) -> RunConfig:
        """The training config a trial runs (the trial's short budget)."""
        config = apply_values(self.base_config, hyperparameters.values)
        config.training.epochs = self.max_epochs if self._hyperband else self.trial_epochs
        config.training.steps_per_epoch = self.trial_steps
        config.data.validation_steps = self.validation_steps
        return config

    def _shared_caches(self, config: RunConfig, shape: tuple, num_classes: int) -> dict:
        """The network caches of trials whose networks are built alike."""
        t = config.training
        key = (
            shape,
            num_classes,
            t.qat,
            t.label_smoothing,
            t.trace_after,
            t.activation_ranges,
            t.cache_size,
            config.search_space.val_size,
            config.strategy,
        )
        return self._caches.setdefault(key, {})

    def _setup(self, config: RunConfig, previous: str | None) -> tuple[Any, Any, Any]:
        """(trainer, training data, validation data) of a trial's config."""
        from ghnq_tf.hypernet.ghn import GHN
        from ghnq_tf.training.run import (
            initial_ghn,
            make_datasets,
            make_optimizer,
            make_strategy,
            make_trainer,
        )

        keras.utils.set_random_seed(config.training.seed)  # same values, same trial
        train_ds, val_ds, shape, num_classes = make_datasets(config)
        strategy = make_strategy(config.strategy)
        with strategy.scope():  # as `ghnq-tf train` does
            ghn = initial_ghn(config).build_all()  # honours training.init_from
            if previous is not None:  # Hyperband: continue the earlier trial's GHN
                ghn.set_weights(GHN.load(str(self._ghn_path(previous))).get_weights())
            trainer = make_trainer(
                config,
                ghn,
                input_shape=shape,
                num_classes=num_classes,
                val_bits=self.objective_bits,
                build=self.build_fn,
            )
            # Built, quantize-wrapped networks do not depend on the GHN: share them.
            trainer.share_network_caches(self._shared_caches(config, shape, num_classes))
            trainer.compile(optimizer=make_optimizer(config))
            state = None if previous is None else self._optimizer_path(previous)
            if state is not None and Path(f"{state}.index").exists():
                # and its optimizer: moments, step count, schedule, architecture draws
                # (a trial saved before optimizer states were kept goes on without).
                trainer.optimizer.build(trainer.ghn.trainable_variables)
                checkpoint = tf.train.Checkpoint(optimizer=trainer.optimizer)
                checkpoint.read(state).assert_existing_objects_matched()
        return trainer, train_ds, val_ds

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
        """Trains a GHN with the trial's hyperparameters; returns its metrics.

        A configuration that cannot even start (say a meta-batch larger than
        the training pool) stops the search with a `FatalValueError`: the
        search space, not the trial, needs fixing.
        """
        start = time.perf_counter()
        values = trial.hyperparameters.values
        try:
            config = self.trial_config(trial.hyperparameters)
            trainer, train_ds, val_ds = self._setup(config, values.get("tuner/trial_id"))
        except (ValueError, TypeError) as err:
            raise keras_tuner.errors.FatalValueError(
                f"Trial {trial.trial_id} cannot start with {dict(values)}: {err}"
            ) from err
        initial_epoch, epochs = 0, self.trial_epochs
        if self._hyperband:
            initial_epoch, epochs = int(values["tuner/initial_epoch"]), int(values["tuner/epochs"])
        history = trainer.fit(
            train_ds,
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=config.training.steps_per_epoch,
            validation_data=val_ds,
            validation_steps=config.data.validation_steps,
            verbose=kwargs.get("verbose", 0),
        )
        trainer.ghn.save(str(self._ghn_path(trial.trial_id)))
        tf.train.Checkpoint(optimizer=trainer.optimizer).write(self._optimizer_path(trial.trial_id))
        metrics = {k: float(v[-1]) for k, v in history.history.items()}
        metrics["steps"] = float(trainer.optimizer.iterations.numpy())  # incl. a continuation's
        metrics["seconds"] = time.perf_counter() - start
        return metrics

    def _ghn_path(self, trial_id: str) -> Path:
        return Path(self.get_trial_dir(trial_id)) / "ghn.keras"

    def _optimizer_path(self, trial_id: str) -> str:
        """Checkpoint prefix of a trial's optimizer state (Hyperband continues it)."""
        return str(Path(self.get_trial_dir(trial_id)) / "optimizer" / "state")

    def load_model(self, trial: Any) -> Any:
        """The GHN a trial trained (Keras Tuner's `get_best_models` uses this)."""
        from ghnq_tf.hypernet.ghn import GHN

        return GHN.load(str(self._ghn_path(trial.trial_id)))

    def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
        """Unused: `run_trial` saves each trial's GHN itself."""

    # --------------------------------------------------------------- results
    def best_config(self) -> RunConfig:
        """The base config with the best trial's values, at the base's full budget."""
        best = self.oracle.get_best_trials(1)
        if not best or best[0].status != _COMPLETED:
            raise ValueError(
                f"No completed trial in {self.project_dir!r} yet: run `search()` first."
            )
        config = apply_values(self.base_config, best[0].hyperparameters.values)
        config.name = f"{self.base_config.name}_tuned"
        config.output_dir = f"{self.base_config.output_dir.rstrip('/')}_tuned"
        return config

    def summary_dict(self) -> dict[str, Any]:
        """Completed trials (id, values, metrics; best first) and failed ones."""
        trials = []
        for trial in self.oracle.get_best_trials(len(self.oracle.trials)):
            if trial.status != _COMPLETED:
                continue
            metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
            trials.append(
                {
                    "trial_id": trial.trial_id,
                    "status": trial.status,
                    "score": trial.score,
                    "values": dict(trial.hyperparameters.values),
                    "metrics": metrics,
                }
            )
        failed = [
            {
                "trial_id": t.trial_id,
                "values": dict(t.hyperparameters.values),
                "error": (t.message or "").strip().splitlines()[-1:],
            }
            for t in self.oracle.trials.values()
            if t.status == "FAILED"
        ]
        return {
            "objective": OBJECTIVE,
            "objective_bits": self.objective_bits,
            "trials": trials,
            "failed": failed,
        }

    def write_best_config(self, path: str | Path) -> Path:
        """Writes the best configuration as a training config YAML (atomically).

        The file loads with `load_config` and trains with `ghnq-tf train`.
        """
        from ghnq_tf._io import atomic_write_text

        config = self.best_config()
        summary = self.summary_dict()["trials"]
        best = summary[0]
        epochs = self.max_epochs if self._hyperband else self.trial_epochs
        header = (
            f"# Best of {len(summary)} GHNTuner trials ({self.project_dir}): trial "
            f"{best['trial_id']}, {OBJECTIVE}={best['score']:.4f} after at most "
            f"{epochs * self.trial_steps} training steps.\n"
            "# Searched: " + ", ".join(self.search_space) + "\n"
        )
        text = header + yaml.safe_dump(config.to_dict(), sort_keys=False)
        config_from_dict(yaml.safe_load(text))  # the file is a valid training config
        return atomic_write_text(path, text)
