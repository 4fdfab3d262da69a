"""One `GHNTrainer` step under a `tf.distribute` strategy (helper of test_distribution.py).

Run as a script, in a fresh process (logical devices and collective ops must
be configured before TensorFlow initializes):

    python _dist_worker.py STRATEGY OUT.npz

STRATEGY is `none`, `one_device`, `mirrored` (two logical CPU devices) or
`multi_worker` (reads TF_CONFIG; one CPU replica per worker process). The
script trains a tiny GHN for one step with the user's code unchanged (build
in `strategy.scope()`, `compile`, `fit`) and writes to OUT.npz: the GHN
weights before and after the step, the draws, the image shard each local
replica trained on, the metrics and the largest difference between the
replicas' copies of each GHN weight.

Imported (by the test), it only defines the shared set-up: the tiny network
family, the data and the trainer's arguments.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import ghnq_tf as gq
from ghnq_tf._keras import keras, tf

SPECS = [{"width": w} for w in (3, 4, 5, 6, 7, 8)]
BATCH = 8
LEARNING_RATE = 0.2  # one step must move the GHN far beyond the test tolerance
TRAINER_KWARGS = {
    "bits": 4,
    "meta_batch": 2,
    "input_shape": (8, 8, 3),
    "num_classes": 4,
    "param_penalty": 1e-3,
    "seed": 0,
}


def build(spec: dict) -> keras.Model:
    """A tiny CNN using every decoder head: conv, BN, separable, dense, classifier."""
    layers = keras.layers
    width = spec["width"]
    x = keras.Input((8, 8, 3))
    h = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    h = layers.BatchNormalization()(h)
    h = layers.SeparableConv2D(width, 3, padding="same", activation="relu")(h)
    h = layers.Dense(width, activation="relu")(h)
    h = layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, layers.Dense(4)(h))


def data() -> tuple[np.ndarray, np.ndarray]:
    """One global batch: 8 images 8×8×3, labels 0..3."""
    images = np.random.default_rng(0).normal(size=(BATCH, 8, 8, 3)).astype(np.float32)
    labels = np.arange(BATCH, dtype=np.int32) % 4
    return images, labels


def make_ghn() -> gq.GHN:
    return gq.GHN(hidden=16, num_layers=1, rank=4)


def _trainer_class() -> type:
    from ghnq_tf.training.trainer import GHNTrainer, _replica

    class RecordingTrainer(GHNTrainer):
        """Records the shard each replica receives; the step itself is GHNTrainer's."""

        shards: dict[int, tuple[np.ndarray, np.ndarray]] = {}

        def train_step(self, data):
            replica, _ = _replica()
            self.shards[replica] = (np.asarray(data[0]), np.asarray(data[1]))
            return super().train_step(data)

    return RecordingTrainer


def _strategy(kind: str):
    if kind == "none":
        return None
    if kind == "one_device":
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    if kind == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    if kind == "multi_worker":
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING,
            timeout_seconds=120,
        )
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise ValueError(f"unknown strategy {kind!r}")


def run(kind: str, init: list[np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """One training step from GHN weights `init` (default: seeded initialization).

    Returns what `main` writes (arrays, and JSON text under `meta`).
    """
    strategy = _strategy(kind)  # first: devices/collectives are set up at start-up
    scope = strategy.scope() if strategy is not None else tf.distribute.get_strategy().scope()
    images, labels = data()
    with scope:
        keras.utils.set_random_seed(0)
        ghn = make_ghn()
        trainer = _trainer_class()(ghn, SPECS, build=build, **TRAINER_KWARGS)
        trainer.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
        if init is not None:
            ghn.set_weights(init)
    init = [v.numpy() for v in ghn.weights]
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(BATCH)
    history = trainer.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
    out: dict[str, np.ndarray] = {}
    for i, (v, before) in enumerate(zip(ghn.weights, init, strict=True)):
        out[f"init_{i}"] = before
        out[f"final_{i}"] = v.numpy()
    spread = 0.0
    if strategy is not None:
        for v in ghn.weights:
            copies = [np.asarray(c) for c in strategy.experimental_local_results(v)]
            spread = max(spread, *(float(np.max(np.abs(c - copies[0]))) for c in copies))
    for replica, (x, y) in trainer.shards.items():
        out[f"images_{replica}"], out[f"labels_{replica}"] = x, y
    meta = {
        "names": [v.name for v in ghn.weights],
        "draws": [[s, r, list(i), list(b)] for s, r, i, b in trainer.draws],
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        "tracker_loss": float(trainer.loss_tracker.result()),
        "replicas": strategy.num_replicas_in_sync if strategy is not None else 1,
        "replica_spread": spread,
    }
    out["meta"] = np.array(json.dumps(meta))
    return out


def main(argv: list[str]) -> None:
    kind, path, *options = argv  # options: key=value JSON, added to TRAINER_KWARGS
    for option in options:
        key, value = option.split("=", 1)
        TRAINER_KWARGS[key] = json.loads(value)
    np.savez(path, **run(kind))


if __name__ == "__main__":
    main(sys.argv[1:])
