"""Benchmark: one GHN-QAT training step against m plain QAT steps of the same networks.

For `--meta-batch` m search-space networks (the first m of `val`) at 4 bits
on a batch of `--batch` 32×32 images:

* the sum of m plain QAT training steps (`qmodel.train_on_batch`, traced),
* one warm GHNTrainer step with meta-batch m (all networks cached and
  traced): the GHN's overhead is the ratio of the two (target ≤ 1.3×),
* steady-state throughput in network-images per second,
* with `--replicas 2`: the same run under MirroredStrategy on two logical
  CPU devices (each replica draws m/2 networks), for the 1 → 2 speed-up.

Run: `.venv/bin/python benchmarks/train_step.py [--meta-batch 4] [--replicas 2]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _data(batch: int):
    from ghnq_tf._keras import tf

    images = tf.random.stateless_normal([batch, 32, 32, 3], seed=[0, 0])
    labels = tf.random.stateless_uniform([batch], seed=[0, 1], maxval=10, dtype=tf.int32)
    return images, labels


def plain_qat(specs, batch: int, repeats: int) -> float:
    """Seconds for one traced QAT step of each network, summed."""
    import ghnq_tf as gq
    from ghnq_tf._keras import keras
    from ghnq_tf.quant import quantize

    images, labels = _data(batch)
    total = 0.0
    for spec in specs:
        qmodel = quantize(gq.search_space.build(spec), bits=4)
        qmodel.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        qmodel.train_on_batch(images, labels)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            qmodel.train_on_batch(images, labels)
            times.append(time.perf_counter() - start)
        total += statistics.median(times)
    return total


def ghn_step(specs, batch: int, repeats: int, replicas: int) -> float:
    """Median seconds of a warm GHNTrainer step (meta-batch len(specs) in all)."""
    import ghnq_tf as gq
    from ghnq_tf._keras import keras, tf

    if replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * replicas
        )
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
    else:
        strategy = tf.distribute.get_strategy()
    images, labels = _data(batch * replicas)
    meta = len(specs) // replicas
    with strategy.scope():
        trainer = gq.GHNTrainer(
            gq.GHN(), specs, bits=4, meta_batch=meta, cache_size=len(specs), trace_after=0
        )
        trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    # Warm up until every network is cached and traced on every replica.
    trainer.fit(dataset, steps_per_epoch=3 * len(specs), epochs=1, verbose=0)
    timer = _BatchTimer()
    trainer.fit(dataset, steps_per_epoch=repeats, epochs=1, verbose=0, callbacks=[timer])
    return statistics.median(timer.seconds)


def _BatchTimer():  # noqa: N802 - a callback class built once Keras is imported
    """A callback timing each training batch inside `fit` (not fit's per-call setup)."""
    from ghnq_tf._keras import keras

    class BatchTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_train_batch_begin(self, batch, logs=None) -> None:
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    return BatchTimer()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meta-batch", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--only", choices=["plain", "ghn"], help=argparse.SUPPRESS)
    parser.add_argument("--ghn-replicas", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import ghnq_tf as gq

    specs = gq.search_space.split("val", args.meta_batch)
    if args.only == "plain":
        print(json.dumps({"seconds": plain_qat(specs, args.batch, args.repeats)}))
        return
    if args.only == "ghn":
        seconds = ghn_step(specs, args.batch, args.repeats, args.ghn_replicas)
        print(json.dumps({"seconds": seconds}))
        return

    def child(*extra: str) -> float:
        command = [
            sys.executable,
            __file__,
            "--meta-batch",
            str(args.meta_batch),
            "--batch",
            str(args.batch),
            "--repeats",
            str(args.repeats),
            *extra,
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])["seconds"]

    plain = child("--only", "plain")
    ghn1 = child("--only", "ghn", "--ghn-replicas", "1")
    figures = {
        "meta_batch": args.meta_batch,
        "batch": args.batch,
        "plain_qat_steps_sum_s": round(plain, 3),
        "ghn_step_s": round(ghn1, 3),
        "overhead_ratio": round(ghn1 / plain, 3),
        "network_images_per_s": round(args.meta_batch * args.batch / ghn1, 1),
    }
    if args.replicas > 1:
        ghn2 = child("--only", "ghn", "--ghn-replicas", str(args.replicas))
        # Same networks in total, split over replicas, each replica a full batch.
        figures["ghn_step_2_replicas_s"] = round(ghn2, 3)
        figures["speedup_2_replicas"] = round(ghn1 / ghn2, 3)
    print(json.dumps(figures, indent=2))
    from _common import save

    save("train_step", figures)


if __name__ == "__main__":
    main()
