"""Benchmark: where `gq.predict` spends its time, per stage, on both quantize paths.

A warm process (TensorFlow imported, the bundled `cifar10` GHN loaded, one
unrelated model already predicted) predicts W4A4 parameters, with no
calibration, for architectures it has not predicted before: a small
hand-written residual CNN, MobileNetV2 and ResNet50 (32×32, 10 classes).
Per model: seconds in graph building, the GHN forward, quantize (tfmot wrap)
and injection, for `gq.quantize` (`ghnq_tf.quant.apply`) and for tfmot's own
`quantize_annotate_model` + `quantize_apply` (`tfmot_quantize`, the path
`gq.quantize` is tested equal to), then `gq.predict` with the default
calibration (256 images: 8 batches of 32) on a second copy of the model.
`--fresh` also times a new process's first `gq.predict(MobileNetV2)`,
imports and GHN loading included.

The floor: rebuilding the float model from its config
(`keras.Model.from_config`, no quantization) is the least that any path
returning a new tf_keras model of these layers pays (a quantize-aware model
has the same layers, each wrapped, and about 2.5× the variables). Graph +
GHN + inject + that rebuild is the fastest a `gq.predict` that builds its
model could be.
Run: `.venv/bin/python benchmarks/predict_speed.py [--fresh]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import save  # noqa: E402

import ghnq_tf as gq  # noqa: E402
from ghnq_tf._keras import keras  # noqa: E402
from ghnq_tf.prediction.predict import predict_many  # noqa: E402
from ghnq_tf.quant.quantize_model import tfmot_quantize  # noqa: E402

L = keras.layers
TARGETS = {"MobileNetV2": 1.5, "ResNet50": 3.0}  # issue 33, seconds without calibration

FRESH = """
import time
start = time.perf_counter()
import ghnq_tf as gq
from ghnq_tf._keras import keras
model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, classes=10)
built = time.perf_counter()
gq.predict(model, bits=4)
print(f"{built - start:.3f} {time.perf_counter() - built:.3f}")
"""


def small_cnn(name: str = "small_cnn", widths: tuple[int, ...] = (16, 32, 64)) -> keras.Model:
    """A 3-stage ResNet-like CNN (conv-BN-ReLU, residual 1×1 shortcuts)."""
    x = inputs = keras.Input((32, 32, 3))
    for f in widths:
        y = L.ReLU()(L.BatchNormalization()(L.Conv2D(f, 3, padding="same", use_bias=False)(x)))
        y = L.BatchNormalization()(L.Conv2D(f, 3, padding="same", use_bias=False)(y))
        s = L.BatchNormalization()(L.Conv2D(f, 1, use_bias=False)(x))
        x = L.MaxPooling2D()(L.ReLU()(L.Add()([y, s])))
    return keras.Model(inputs, L.Dense(10)(L.GlobalAveragePooling2D()(x)), name=name)


def _build(name: str) -> keras.Model:
    if name == "small_cnn":
        return small_cnn()
    return getattr(keras.applications, name)(input_shape=(32, 32, 3), weights=None, classes=10)


def _fresh_process() -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", FRESH], capture_output=True, text=True, check=True
    ).stdout.split()
    return {"imports_and_build_s": float(out[-2]), "first_predict_s": float(out[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="also time a fresh process")
    parser.add_argument("--models", nargs="+", default=["small_cnn", "MobileNetV2", "ResNet50"])
    parser.add_argument("--output", default="predict_speed", help="results/<output>.json")
    args = parser.parse_args()

    ghn = gq.GHN.from_pretrained("cifar10")
    predict_many([small_cnn("warm_up", (8, 16))], bits=4, ghn=ghn)  # an unrelated model
    calibration = np.random.default_rng(0).normal(size=(256, 32, 32, 3)).astype("float32")
    figures: dict[str, object] = {"ghn": "cifar10", "bits": 4, "targets_s": TARGETS}
    figures["load_average_at_start"] = round(os.getloadavg()[0], 1)  # other jobs on the cores
    for name in args.models:
        model = _build(name)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        predict_many([model], bits=4, ghn=ghn, timings=timings)
        total = time.perf_counter() - start
        start = time.perf_counter()
        tfmot_quantize(model, bits=4)
        tfmot_wrap = time.perf_counter() - start
        old_total = total - timings["quantize"] + tfmot_wrap
        config = model.get_config()
        start = time.perf_counter()
        keras.Model.from_config(config)
        rebuild = time.perf_counter() - start
        floor = total - timings["quantize"] + rebuild
        calibrated: dict[str, float] = {}
        start = time.perf_counter()
        predict_many(
            [_build(name)], bits=4, ghn=ghn, calibration_data=calibration, timings=calibrated
        )
        with_calibration = time.perf_counter() - start
        figures[name] = {
            "predict_s": round(total, 3),
            **{f"{k}_s": round(v, 3) for k, v in timings.items()},
            "tfmot_annotate_apply_quantize_s": round(tfmot_wrap, 3),
            "predict_with_tfmot_annotate_apply_s": round(old_total, 3),
            "float_rebuild_s": round(rebuild, 3),
            "predict_floor_s": round(floor, 3),
            "predict_calibrated_s": round(with_calibration, 3),
            "calibrate_s": round(calibrated["calibrate"], 3),
        }
        stages = " + ".join(f"{k} {v:.2f}" for k, v in timings.items())
        print(
            f"{name}: predict {total:.2f} s = {stages}; tfmot annotate+apply quantize "
            f"{tfmot_wrap:.2f} s (predict {old_total:.2f} s); float rebuild {rebuild:.2f} s "
            f"(floor {floor:.2f} s); with default calibration "
            f"{with_calibration:.2f} s (calibrate {calibrated['calibrate']:.2f})",
            flush=True,
        )
    if args.fresh:
        figures["fresh_process_MobileNetV2"] = fresh = _fresh_process()
        print(
            f"fresh process: imports + build {fresh['imports_and_build_s']:.2f} s, "
            f"first gq.predict(MobileNetV2) {fresh['first_predict_s']:.2f} s"
        )
    figures["load_average_at_end"] = round(os.getloadavg()[0], 1)
    save(args.output, figures)


if __name__ == "__main__":
    main()
