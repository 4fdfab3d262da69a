"""GHNTrainer on one device: dynamic draws, QAT/float, validation, exact resume."""

import json
import warnings

import numpy as np
import pytest

import ghnq_tf as gq
from ghnq_tf._keras import keras, tf
from ghnq_tf.training.trainer import GHNTrainer

L = keras.layers
ARCHS = [{"width": w, "sep": s} for w in (4, 6, 8) for s in (False, True)]


def tiny_net(spec):
    """A small CNN from a tiny spec (search-space networks are too slow for unit tests)."""
    x = keras.Input((8, 8, 3))
    h = L.Conv2D(spec["width"], 3, padding="same", use_bias=False)(x)
    h = L.BatchNormalization()(h)
    h = L.ReLU()(h)
    if spec["sep"]:
        h = L.SeparableConv2D(spec["width"], 3, padding="same", activation="relu")(h)
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(x, L.Dense(3)(h))


def data(count=32, batch=8):
    images = tf.random.stateless_normal([count, 8, 8, 3], seed=[0, 1])
    labels = tf.random.stateless_uniform([count], seed=[0, 2], maxval=3, dtype=tf.int32)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch)


def make_trainer(**kwargs):
    keras.utils.set_random_seed(0)
    ghn = gq.GHN(hidden=16, num_layers=1, rank=4)
    options = {"bits": 4, "meta_batch": 2, "build": tiny_net, "input_shape": (8, 8, 3)}
    trainer = GHNTrainer(ghn, ARCHS, **{**options, **kwargs})
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    return trainer


def test_every_step_trains_the_networks_the_sampler_draws():
    trainer = make_trainer(bits=(2, 4, 8), trace_after=1)
    trainer.fit(data().repeat(), steps_per_epoch=6, epochs=1, verbose=0)
    draws = trainer.draws
    assert [d[0] for d in draws] == list(range(6))
    for step, replica, indices, bits in draws:
        assert (indices, bits) == trainer.sampler.draw(step=step, replica=replica)
    assert len({tuple(d[2]) for d in draws}) > 1  # not frozen by tracing
    assert len({b for d in draws for b in d[3]}) > 1  # bits are sampled per network
    # The cache holds exactly the drawn (architecture, bits) pairs, used as often as drawn.
    drawn = [(i, b) for _, _, indices, bits in draws for i, b in zip(indices, bits, strict=True)]
    entries = list(trainer.cache().entries.values())
    assert len(entries) == len(set(drawn))
    assert sorted(e.uses for e in entries) == sorted(drawn.count(p) for p in set(drawn))
    for entry in trainer.cache().entries.values():
        assert entry.bits in (2, 4, 8)
        assert any(type(layer).__name__ == "QuantizeWrapperV2" for layer in entry.model.layers)


def test_float_baseline_trains_plain_networks_and_loss_falls():
    trainer = make_trainer(qat=False, val_archs=ARCHS[:2])
    history = trainer.fit(
        data().repeat(), steps_per_epoch=8, epochs=2, validation_data=data(16), verbose=0
    )
    for entry in trainer.cache().entries.values():
        assert not any("Quantize" in type(layer).__name__ for layer in entry.model.layers)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    # Validation runs forward only and is timed: 2 epochs x 2 batches of 8.
    assert trainer.cache().gradients and not trainer.cache("val").gradients
    timing = trainer.cache_stats()["timing"]
    assert timing["val_batches"] == 4 and timing["val_seconds"] > 0
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    # Validation networks are always quantize-aware (at the smallest trained bits).
    val = trainer.cache("val").entries.values()
    assert len(val) == 2 and all(e.bits == 4 for e in val)


def test_compile_refuses_traced_steps_and_losses():
    trainer = make_trainer()
    with pytest.raises(ValueError, match="run_eagerly=True"):
        trainer.compile(optimizer="adam", run_eagerly=False)
    with pytest.raises(ValueError, match="own loss"):
        trainer.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="`meta_batch` must be in 1..6"):
        GHNTrainer(gq.GHN(hidden=8, num_layers=1), ARCHS, meta_batch=7, build=tiny_net)
    with pytest.raises(ValueError, match="`bits` must be an int in 2..8"):
        GHNTrainer(gq.GHN(hidden=8, num_layers=1), ARCHS, bits=16, build=tiny_net)


def test_warns_when_the_cache_cannot_hold_every_drawn_pair():
    # 6 architectures x 3 bitwidths = 18 (architecture, bits) networks.
    ghn = gq.GHN(hidden=8, num_layers=1)
    with pytest.warns(UserWarning, match="`cache_size`=17 holds fewer networks than the 18"):
        GHNTrainer(ghn, ARCHS, bits=(2, 4, 8), meta_batch=2, cache_size=17, build=tiny_net)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GHNTrainer(ghn, ARCHS, bits=(2, 4, 8), meta_batch=2, cache_size=18, build=tiny_net)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.after:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_exactly(tmp_path):
    initial = [w.numpy() for w in make_trainer().ghn.weights]

    def run(backup, interrupt_at=None):
        trainer = make_trainer()  # QAT: activation ranges follow the batch, no hidden state
        for var, value in zip(trainer.ghn.weights, initial, strict=True):
            var.assign(value)  # the same start for every run
        callbacks = [keras.callbacks.BackupAndRestore(str(backup), save_freq=1)]
        if interrupt_at:
            callbacks.append(_Interrupt(interrupt_at))
        try:
            trainer.fit(
                data().repeat(), steps_per_epoch=3, epochs=2, callbacks=callbacks, verbose=0
            )
        except KeyboardInterrupt:
            pass
        return trainer

    reference = run(tmp_path / "a")
    interrupted = run(tmp_path / "b", interrupt_at=4)
    assert int(interrupted.optimizer.iterations.numpy()) == 4
    resumed = run(tmp_path / "b")
    assert int(resumed.optimizer.iterations.numpy()) == 6
    assert [d[2:] for d in resumed.draws] == [d[2:] for d in reference.draws[4:]]
    for a, b in zip(reference.ghn.weights, resumed.ghn.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_keras_callbacks_work(tmp_path):
    from ghnq_tf.training.callbacks import SaveGHN

    trainer = make_trainer(qat=False, val_archs=ARCHS[:1])
    history = trainer.fit(
        data().repeat(),
        steps_per_epoch=2,
        epochs=3,
        validation_data=data(8),
        callbacks=[
            SaveGHN(str(tmp_path / "run"), snapshot_epochs=[1, 5]),
            keras.callbacks.TensorBoard(str(tmp_path / "logs")),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0),
        ],
        verbose=0,
    )
    assert len(history.history["loss"]) == 2  # early stopping after no 10.0 improvement
    saved = gq.GHN.load(str(tmp_path / "run" / "ghn_last.keras"))
    for a, b in zip(saved.weights, trainer.ghn.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert (tmp_path / "run" / "ghn_best.keras").is_file()
    assert any((tmp_path / "logs").rglob("events.out.tfevents.*"))
    snapshots = sorted(p.name for p in (tmp_path / "run" / "snapshots").iterdir())
    assert snapshots == ["ghn_epoch1.keras"]  # epoch 5 never ran
    epochs = json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"]
    cpu = [e["cpu_seconds"] for e in epochs]
    wall = [e["wall_seconds"] for e in epochs]
    assert 0 < cpu[0] < cpu[1] and 0 < wall[0] < wall[1]


def test_resumed_run_adds_its_time_to_the_logged_time(tmp_path):
    from ghnq_tf.training.callbacks import SaveGHN

    run = tmp_path / "run"
    run.mkdir()
    done = {"epoch": 1, "loss": 2.0, "wall_seconds": 500.0, "cpu_seconds": 900.0}
    (run / "metrics.json").write_text(json.dumps({"epochs": [done]}))
    callback = SaveGHN(str(run))
    callback.set_model(make_trainer(qat=False))
    callback.on_train_begin()
    callback.on_epoch_begin(1)  # resumed: epoch 2 runs next
    sum(range(200_000))  # some CPU time
    callback.on_epoch_end(1, {"loss": 1.5})
    epochs = json.loads((run / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert 500.0 < epochs[1]["wall_seconds"] < 560.0
    assert 900.0 < epochs[1]["cpu_seconds"] < 960.0


def test_window_keeps_a_pool_larger_than_the_cache_without_warning():
    ghn = gq.GHN(hidden=8, num_layers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 6 networks, a cache of 3: fine with a window of 3
        trainer = GHNTrainer(
            ghn, ARCHS, meta_batch=2, cache_size=3, window=3, window_steps=2, build=tiny_net
        )
    config = trainer.get_config()
    assert (config["window"], config["window_steps"]) == (3, 2)
    assert GHNTrainer.from_config(config).sampler.window == 3


def _teacher():
    keras.utils.set_random_seed(1)
    x = keras.Input((8, 8, 3))
    return keras.Model(x, L.Dense(3)(L.GlobalAveragePooling2D()(L.Conv2D(4, 3)(x))))


def test_a_teacher_distills_into_every_drawn_network():
    teacher = _teacher()
    images, labels = next(iter(data()))
    trainer = make_trainer(qat=False, teacher=teacher, distill_temperature=2.0, distill_weight=0.5)
    plain = make_trainer(qat=False)
    soft = trainer._soft_targets(images)
    expected = tf.nn.softmax(teacher(images, training=False) / 2.0)
    np.testing.assert_allclose(soft.numpy(), expected.numpy(), rtol=1e-6)
    assert plain._soft_targets(images) is None
    # The same draw and GHN: the reported loss is the distilling one.
    with_teacher = trainer.train_step((images, labels))["loss"].numpy()
    without = plain.train_step((images, labels))["loss"].numpy()
    assert with_teacher != pytest.approx(without)
    # The teacher is not trained and not part of the GHN's weights.
    assert len(trainer.trainable_weights) == len(plain.trainable_weights)
    config = trainer.get_config()
    assert config["distill_temperature"] == 2.0 and config["distill_weight"] == 0.5
    rebuilt = GHNTrainer.from_config({**config, "build": tiny_net})
    assert rebuilt.teacher is not None and rebuilt.distill_weight == 0.5


def test_distillation_arguments_are_checked():
    with pytest.raises(ValueError, match="distill_weight"):
        make_trainer(teacher=_teacher(), distill_weight=1.5)
    with pytest.raises(TypeError, match="teacher"):
        make_trainer(teacher="teacher.keras")


def test_filter_decorrelation_changes_the_update_and_round_trips():
    images, labels = next(iter(data()))
    moved = {}
    for weight in (0.0, 1.0):
        trainer = make_trainer(qat=False, filter_decorrelation=weight)
        before = [w.numpy() for w in trainer.ghn.trainable_weights]
        trainer.train_step((images, labels))
        after = trainer.ghn.trainable_weights
        moved[weight] = [w.numpy() - b for w, b in zip(after, before, strict=True)]
    # The same draw, GHN and batch: the penalty's gradient changes the step.
    assert any(not np.allclose(a, b) for a, b in zip(moved[0.0], moved[1.0], strict=True))
    config = trainer.get_config()
    assert config["filter_decorrelation"] == 1.0
    rebuilt = GHNTrainer.from_config({**config, "build": tiny_net})
    assert rebuilt.cache().filter_decorrelation == 1.0
    with pytest.raises(ValueError, match="`filter_decorrelation` must be >= 0"):
        make_trainer(filter_decorrelation=-1.0)
