"""`gq.tuning.GHNTuner`: Keras Tuner over GHN hyperparameters, resume, best config."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from ghnq_tf._keras import keras
from ghnq_tf.training.config import ConfigError, load_config
from ghnq_tf.tuning.config import (
    apply_values,
    load_tune_config,
    search_hyperparameters,
    tune_config_from_dict,
)
from ghnq_tf.tuning.ghn_tuner import GHNTuner

L = keras.layers
CONFIG = "configs/tune_ghn.yaml"


def tiny_net(spec):
    """A small CNN per search-space spec (search-space networks are slow to wrap)."""
    width = 4 + 2 * (len(json.dumps(spec)) % 3)
    x = keras.Input((16, 16, 3))
    h = L.Conv2D(width, 3, strides=2, padding="same", use_bias=False)(x)
    h = L.BatchNormalization()(h)
    h = L.ReLU()(h)
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(x, L.Dense(10)(h))


def tiny_base():
    return load_config(
        "configs/digits_w4a4.yaml",
        overrides=[
            "search_space.train_size=1",
            "search_space.val_size=1",
            "data.batch_size=16",
            "ghn.hidden=8",
            "ghn.rank=4",
            "training.meta_batch=1",
        ],
    )


SEARCH = {
    "ghn.num_layers": [1, 2],
    "ghn.conv": ["simple", "gatv2"],
    "training.learning_rate": {"min": 1e-3, "max": 1e-2, "sampling": "log"},
    "training.bits": [[4], [2, 4, 8]],
}


def test_importing_keras_tuner_first_keeps_tf_keras_for_tensorflow():
    """keras_tuner imports Keras 3 (and TensorFlow) without touching `tf.keras`."""
    environ = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    code = (
        "import keras_tuner, keras, os;"
        "assert 'TF_USE_LEGACY_KERAS' not in os.environ;"
        "import ghnq_tf, ghnq_tf.tuning as t, tensorflow as tf;"
        "t.GHNTuner, t.search_bits;"
        "from ghnq_tf._keras import keras as k2;"
        "print(keras.__version__[0], tf.keras.__name__, k2.__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "tf_keras.api._v2.keras", "tf_keras"]


def test_in_process_keras_tuner_and_tf_keras_coexist():
    import keras_tuner  # noqa: F401
    import tensorflow as tf

    assert tf.keras.__name__.startswith("tf_keras")
    assert keras.__name__ == "tf_keras"


def test_tune_config_reads_the_search_space_and_rejects_mistakes():
    config = load_tune_config(
        CONFIG, overrides=["tuner.max_trials=2", "base.training.meta_batch=2"]
    )
    assert config.name == "tune_ghn" and config.tuner.max_trials == 2
    assert set(config.search) == {
        "ghn.hidden",
        "ghn.num_layers",
        "ghn.conv",
        "training.learning_rate",
        "training.meta_batch",
        "training.bits",
    }
    base = config.base()
    assert base.training.meta_batch == 2 and base.search_space.train_size == 8
    data = yaml.safe_load(open(CONFIG))
    bad = [
        (
            {"search": {"ghn": {"widht": [8]}}},
            r"`search.ghn.widht`: Unknown config key `ghn.widht`",
        ),
        ({"search": {"ghn": {"conv": ["gcn"]}}}, r"`search.ghn.conv`: `ghn.conv` must be one of"),
        ({"search": {"ghn": {"hidden": 8}}}, "must be a list of choices or a range"),
        ({"search": {"training": {"learning_rate": {"min": 1.0}}}}, "must give `min` and `max`"),
        ({"search": {"name": ["a"]}}, "must be a key of the data, search_space, ghn or training"),
        ({"tuner": {"oracle": "grid"}}, r"`tuner.oracle` must be one of"),
        ({"base_overrides": ["search_space.train_size=3"]}, "`training.meta_batch` can be 4"),
        ({"tuner": {"max_trails": 2}}, "Unknown config key `tuner.max_trails`"),
    ]
    for change, message in bad:
        with pytest.raises(ConfigError, match=message):
            tune_config_from_dict({**data, **change}, source_dir="configs")


def test_search_space_defaults_are_the_base_config():
    base = tiny_base()
    hp = search_hyperparameters(SEARCH, base)
    defaults = {p.name: p.default for p in hp.space}
    assert defaults == {
        "ghn.num_layers": 2,
        "ghn.conv": "simple",
        "training.learning_rate": pytest.approx(3e-3),
        "training.bits": "[4]",
    }
    config = apply_values(
        base, {"ghn.conv": "gatv2", "training.bits": "[2, 4, 8]", "tuner/epochs": 2}
    )
    assert config.ghn.conv == "gatv2" and config.training.bits == [2, 4, 8]


def make_tuner(directory, cls=GHNTuner, base=None, **kwargs):
    options = {
        "search": SEARCH,
        "trial_steps": 1,
        "validation_steps": 1,
        "directory": str(directory),
        "project_name": "ghn",
        "build": tiny_net,
        "seed": 1,
    }
    return cls(base or tiny_base(), **{**options, **kwargs})


class CountingTuner(GHNTuner):
    def run_trial(self, trial, *args, **kwargs):
        self.ran = [*getattr(self, "ran", []), trial.trial_id]
        return super().run_trial(trial, *args, **kwargs)


# A cheap space (one bitwidth: fewer networks to wrap; no GATv2 to trace).
CHEAP = {k: v for k, v in SEARCH.items() if k not in ("training.bits", "ghn.conv")}


def test_ghn_tuner_runs_a_trial_and_writes_a_training_config(tmp_path):
    first = make_tuner(tmp_path, CountingTuner, max_trials=1, search=CHEAP)
    first.search()
    assert first.ran == ["0"]
    (trial,) = first.oracle.trials.values()
    assert trial.status == "COMPLETED"
    assert dict(trial.hyperparameters.values) == {
        "ghn.num_layers": 2,
        "training.learning_rate": pytest.approx(3e-3),
    }  # the base config first
    assert 0.0 <= trial.metrics.get_last_value("val_accuracy") <= 1.0
    assert (tmp_path / "ghn" / "trial_0" / "ghn.keras").is_file()

    again = make_tuner(tmp_path, CountingTuner, max_trials=1, search=CHEAP)
    again.search()  # reloaded: nothing left to run
    assert not hasattr(again, "ran")
    path = again.write_best_config(tmp_path / "best.yaml")
    config = load_config(path)
    assert config.ghn.num_layers == 2 and config.training.learning_rate == pytest.approx(3e-3)
    assert config.training.steps_per_epoch == tiny_base().training.steps_per_epoch  # full budget
    assert config.name == "digits_w4a4_tuned" and config.output_dir == "runs/digits_w4a4_tuned"
    assert path.read_text().startswith("# Best of 1 GHNTuner trials")


@pytest.mark.slow
def test_ghn_tuner_resumes_with_more_trials(tmp_path):
    first = make_tuner(tmp_path, CountingTuner, max_trials=1, search=CHEAP)
    first.search()
    assert first.ran == ["0"]
    resumed = make_tuner(tmp_path, CountingTuner, max_trials=2, search=CHEAP)
    resumed.search()
    assert resumed.ran == ["1"]  # only the missing trial
    best = resumed.get_best_hyperparameters(2)
    assert len(best) == 2 and best[0].values != best[1].values
    config = load_config(resumed.write_best_config(tmp_path / "best.yaml"))
    winner = best[0].values
    assert config.ghn.num_layers == winner["ghn.num_layers"]
    assert config.training.learning_rate == pytest.approx(winner["training.learning_rate"])


def test_a_search_space_that_cannot_train_stops_the_search(tmp_path):
    import keras_tuner

    tuner = make_tuner(tmp_path, search={"data.val_split": ["nosuch"]}, max_trials=1)
    with pytest.raises(keras_tuner.errors.FatalValueError, match="Trial 0 cannot start with"):
        tuner.search()


@pytest.mark.slow
def test_hyperband_continues_earlier_trials(tmp_path):
    tuner = make_tuner(tmp_path, oracle="hyperband", max_epochs=2, factor=2)
    tuner.search()
    trials = list(tuner.oracle.trials.values())
    assert all(t.status == "COMPLETED" for t in trials)
    continued = [t for t in trials if "tuner/trial_id" in t.hyperparameters.values]
    assert continued  # a later bracket trained on from an earlier trial's GHN
    for trial in continued:
        values = trial.hyperparameters.values
        assert values["tuner/initial_epoch"] > 0
        # It went on with the earlier trial's optimizer (moments, step, schedule,
        # architecture draws): its step count includes the earlier epochs.
        assert trial.metrics.get_last_value("steps") == values["tuner/epochs"]  # 1 step/epoch
    assert tuner.best_config().ghn.hidden == 8
    (ghn,) = tuner.get_best_models(1)  # the best trial's saved GHN
    best = tuner.get_best_hyperparameters(1)[0].values
    assert ghn.num_layers == best["ghn.num_layers"] and ghn.conv == best["ghn.conv"]


@pytest.mark.slow
def test_tune_command_end_to_end_and_rerun_resumes(tmp_path, capsys):
    """`ghnq-tf tune` on the shipped config (real search-space networks), then again."""
    import argparse

    from ghnq_tf.tuning.cli import add_parser

    parser = argparse.ArgumentParser(prog="ghnq-tf")
    add_parser(parser.add_subparsers(dest="command"))
    argv = [
        "tune",
        "--config",
        CONFIG,
        "--override",
        "tuner.max_trials=2",
        "--override",
        f"tuner.directory={tmp_path}",
        "--override",
        "trial.steps_per_epoch=2",
        "--override",
        "trial.validation_steps=1",
        "--override",
        "search.training.bits=[[4]]",
        "--override",
        "search.training.meta_batch=[2]",
        "--override",
        "base.search_space.train_size=2",
        "--override",
        "base.search_space.val_size=1",
        "--override",
        "base.data.batch_size=16",
        "--override",
        "base.training.meta_batch=2",
    ]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "2 trials (2 run now)" in out
    best = tmp_path / "ghn" / "best.yaml"
    config = load_config(best)
    assert config.name == "digits_w4a4_tuned" and config.search_space.train_size == 2
    summary = json.loads((tmp_path / "ghn" / "summary.json").read_text())
    assert len(summary["trials"]) == 2 and summary["best_config"] == str(best)

    args = parser.parse_args(argv)  # the same command again: nothing left to run
    assert args.func(args) == 0
    assert "2 trials (0 run now)" in capsys.readouterr().out


def test_trials_run_under_the_base_configs_strategy(tmp_path, monkeypatch):
    # A trial runs inside the config's strategy scope, and a MirroredStrategy
    # trial (one replica here) trains the very GHN the default strategy does.
    from ghnq_tf.training import run as training_run

    scopes = []
    make_strategy = training_run.make_strategy

    def recording(name):
        strategy = make_strategy(name)
        scopes.append(type(strategy).__name__)
        return strategy

    monkeypatch.setattr(training_run, "make_strategy", recording)
    weights = {}
    for strategy in ("default", "mirrored"):
        base = tiny_base()
        base.strategy = strategy
        tuner = make_tuner(tmp_path / strategy, base=base, max_trials=1, search=CHEAP)
        tuner.search()
        weights[strategy] = tuner.load_model(tuner.oracle.get_best_trials(1)[0]).get_weights()
    assert scopes == ["_DefaultDistributionStrategy", "MirroredStrategy"]
    for a, b in zip(weights["default"], weights["mirrored"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_multi_worker_strategy_is_refused(tmp_path):
    base = tiny_base()
    base.strategy = "multi_worker"
    with pytest.raises(ValueError, match="Keras Tuner's distributed tuning.*multi_worker"):
        GHNTuner(base, search=CHEAP, directory=str(tmp_path))
