"""Quantize + calibrate + export time, TFLite sizes and LiteRT latency.

For MobileNetV2 and ResNet50 (tf_keras.applications, weights=None, 10 classes,
32×32 inputs) and each bit width: the time of `quantize`, `calibrate` (on
CIFAR-10 images) and `export_tflite`, the size of the TFLite file, and the
batch-1 latency per image of the LiteRT interpreter, next to the float Keras
model (a traced `tf.function`) and the float TFLite model.

Usage:
    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/quant_speed.py \
        [--models MobileNetV2 ResNet50] [--bits 8 4 2] [--threads 1]

Prints a table and saves benchmarks/results/quant_speed.json.
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
from ghnq_tf.export import export_tflite, interpreter  # noqa: E402
from ghnq_tf.quant import calibrate, quantize  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = "/work/shared/data/cifar10"


def _median_ms(fn, runs: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def litert_latency_ms(flatbuffer: bytes, x: np.ndarray, runs: int, threads: int) -> float:
    it = interpreter(flatbuffer, num_threads=threads)
    inp = it.get_input_details()[0]
    if inp["dtype"] == np.int8:
        scale, zero_point = inp["quantization"]
        x = np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)
    it.set_tensor(inp["index"], x[:1])

    def run() -> None:
        it.invoke()

    return _median_ms(run, runs)


def float_tflite(model: keras.Model) -> bytes:
    holder = tf.Module()
    holder.model_variables = list(model.variables)
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec((1, *model.input_shape[1:]), tf.float32))
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder).convert()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["MobileNetV2", "ResNet50"])
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 4, 2])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--calib-batches", type=int, default=4)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "quant_speed.json"))
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    dataset = ghnq_tf.data.load(
        f"image_folder:{args.data}",
        "train",
        batch_size=32,
        shuffle=False,
        limit=32 * args.calib_batches,
    )
    x_calib = np.concatenate([x.numpy() for x, _ in dataset])
    x1 = x_calib[:1]
    rows = []
    for name in args.models:
        model = getattr(keras.applications, name)(input_shape=(32, 32, 3), weights=None, classes=10)
        traced = tf.function(lambda x, m=model: m(x, training=False))
        keras_ms = _median_ms(lambda t=traced: t(x1), args.runs)
        float_bytes = float_tflite(model)
        float_lite_ms = litert_latency_ms(float_bytes, x1, args.runs, args.threads)
        base = {
            "model": name,
            "params": int(model.count_params()),
            "keras_float_ms_per_image": round(keras_ms, 3),
            "tflite_float32_bytes": len(float_bytes),
            "litert_float32_ms_per_image": round(float_lite_ms, 3),
        }
        print(json.dumps(base))
        for bits in args.bits:
            t0 = time.perf_counter()
            qmodel = quantize(model, bits=bits)
            t1 = time.perf_counter()
            calibrate(qmodel, x_calib, steps=args.calib_batches, batch_size=32)
            t2 = time.perf_counter()
            flatbuffer = export_tflite(qmodel, representative_data=x_calib[:32])
            t3 = time.perf_counter()
            qtraced = tf.function(lambda x, m=qmodel: m(x, training=False))
            row = {
                **base,
                "bits": bits,
                "quantize_s": round(t1 - t0, 2),
                "calibrate_s": round(t2 - t1, 2),
                "export_s": round(t3 - t2, 2),
                "tflite_bytes": len(flatbuffer),
                "keras_fake_quant_ms_per_image": round(
                    _median_ms(lambda t=qtraced: t(x1), args.runs), 3
                ),
                "litert_int8_ms_per_image": round(
                    litert_latency_ms(flatbuffer, x1, args.runs, args.threads), 3
                ),
            }
            rows.append(row)
            print(json.dumps(row))

    print(
        f"\n{'model':<12} {'bits':>4} {'quant s':>8} {'calib s':>8} {'export s':>9} "
        f"{'tflite KB':>10} {'LiteRT ms':>10} {'Keras float ms':>15}"
    )
    for r in rows:
        print(
            f"{r['model']:<12} {r['bits']:>4} {r['quantize_s']:>8.1f} {r['calibrate_s']:>8.1f} "
            f"{r['export_s']:>9.1f} {r['tflite_bytes'] / 1024:>10.0f} "
            f"{r['litert_int8_ms_per_image']:>10.2f} {r['keras_float_ms_per_image']:>15.2f}"
        )
    result = {
        "benchmark": "quant_speed",
        "input": "32x32x3, batch 1 for latency (median of runs)",
        "calibration_images": int(len(x_calib)),
        "litert_threads": args.threads,
        "results": rows,
        "command": "TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/quant_speed.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), TF {tf.__version__}",
        "note": "sub-8-bit models are int8 TFLite (b-bit grids in int8 containers): same "
        "size as W8A8 and one extra ADD (requantization) per activation quantizer",
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"saved {args.out}")
    return result


if __name__ == "__main__":
    main()
