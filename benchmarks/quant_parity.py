"""Parity of the Keras fake-quant model and its LiteRT export on CIFAR-10.

Trains a small CNN for a few minutes on CIFAR-10 (the 32x32 JPEG image folder),
then for each bit width: quantize (tfmot N-bit), calibrate, fine-tune briefly
with QAT, re-calibrate, export to int8 TFLite (sub-8-bit grids in int8
containers) and compare top-1 predictions of the Keras model and the LiteRT
interpreter on the 10,000 test images.

Usage:
    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/quant_parity.py \
        [--train-minutes 4] [--qat-steps 300] [--bits 8 4 2]

Prints a table and saves benchmarks/results/quant_parity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import ghnq_tf.data  # noqa: E402
from ghnq_tf._keras import keras, tf  # noqa: E402
from ghnq_tf.export import export_tflite, predict_tflite  # noqa: E402
from ghnq_tf.quant import calibrate, quantize  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = "/work/shared/data/cifar10"


def small_cnn() -> keras.Model:
    """A 7-layer CNN with BatchNorm (the layer pattern GHN targets use)."""
    L = keras.layers
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for filters, pool in ((32, False), (32, True), (64, False), (64, True), (128, False)):
        x = L.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
        if pool:
            x = L.MaxPooling2D()(x)
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(10)(x)
    return keras.Model(inputs, outputs, name="parity_cnn")


class _TimeLimit(keras.callbacks.Callback):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.start = seconds, time.time()

    def on_train_batch_end(self, batch, logs=None):
        if time.time() - self.start > self.seconds:
            self.model.stop_training = True


def _load(root: str, split: str, **kwargs):
    return ghnq_tf.data.load(f"image_folder:{root}", split, **kwargs)


def _arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for x, y in dataset:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def _compile(model: keras.Model, lr: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--train-minutes", type=float, default=4.0)
    parser.add_argument("--qat-steps", type=int, default=300)
    parser.add_argument("--calib-batches", type=int, default=8)
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 4, 2])
    parser.add_argument("--first-last-bits", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--cache", default="/tmp/ghnq_tf_parity_cnn.weights.h5")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "quant_parity.json"))
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    train = _load(args.data, "train", batch_size=128, augment=True, shuffle=True)
    x_test, y_test = _arrays(_load(args.data, "test", batch_size=500, limit=args.test_limit))
    x_calib, _ = _arrays(_load(args.data, "train", batch_size=128, shuffle=False, limit=1024))

    model = small_cnn()
    _compile(model, 2e-3)
    started = time.time()
    if os.path.exists(args.cache):
        model.load_weights(args.cache)
        train_seconds = None
        print(f"loaded trained weights from {args.cache}")
    else:
        model.fit(train, epochs=100, callbacks=[_TimeLimit(60 * args.train_minutes)], verbose=2)
        train_seconds = time.time() - started
        model.save_weights(args.cache)
    float_acc = float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))
    print(f"float CNN: test accuracy {float_acc:.4f}")

    rows = []
    for bits in args.bits:
        t0 = time.time()
        qmodel = quantize(model, bits=bits, first_last_bits=args.first_last_bits)
        calibrate(qmodel, x_calib, steps=args.calib_batches, batch_size=128)
        acc_ptq = float(np.mean(qmodel.predict(x_test, verbose=0).argmax(-1) == y_test))
        if args.qat_steps:
            _compile(qmodel, 1e-4 if bits >= 4 else 3e-4)
            qmodel.fit(train, steps_per_epoch=args.qat_steps, epochs=1, verbose=2)
            calibrate(qmodel, x_calib, steps=args.calib_batches, batch_size=128)
        keras_pred = qmodel.predict(x_test, verbose=0).argmax(-1)
        t1 = time.time()
        flatbuffer = export_tflite(qmodel, representative_data=x_calib[:100])
        t2 = time.time()
        lite_pred = predict_tflite(flatbuffer, x_test, batch_size=250, num_threads=2).argmax(-1)
        row = {
            "bits": bits,
            "first_last_bits": args.first_last_bits,
            "keras_fake_quant_accuracy_ptq": acc_ptq,
            "keras_fake_quant_accuracy": float(np.mean(keras_pred == y_test)),
            "litert_accuracy": float(np.mean(lite_pred == y_test)),
            "top1_agreement": float(np.mean(keras_pred == lite_pred)),
            "test_images": int(len(y_test)),
            "tflite_bytes": len(flatbuffer),
            "quantize_calibrate_qat_seconds": round(t1 - t0, 1),
            "export_seconds": round(t2 - t1, 1),
        }
        rows.append(row)
        print(json.dumps(row))

    result = {
        "benchmark": "quant_parity",
        "model": "parity_cnn (5 conv+BN+ReLU, 2 max-pool, GAP, dense)",
        "params": int(model.count_params()),
        "float_accuracy": float_acc,
        "train_seconds": train_seconds,
        "qat_steps": args.qat_steps,
        "calibration_images": int(args.calib_batches * 128),
        "results": rows,
        "command": "TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/quant_parity.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}",
    }
    print("\nbits  keras_acc  litert_acc  top1_agreement")
    for r in rows:
        print(
            f"W{r['bits']}A{r['bits']}  {r['keras_fake_quant_accuracy']:.4f}     "
            f"{r['litert_accuracy']:.4f}      {r['top1_agreement']:.4f}"
        )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"saved {args.out}")
    return result


if __name__ == "__main__":
    main()
