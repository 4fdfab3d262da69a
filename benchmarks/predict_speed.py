"""Benchmark: where `gq.predict` spends its time, against one QAT training step.

For MobileNetV2 and ResNet50 (32×32, 10 classes) with the default GHN
configuration: seconds in graph building, GHN forward, quantize-wrapping and
injection (warm: second call), peak memory, and one QAT training step of the
same quantize-aware model on a 64-image batch. Also the default GHN's size.
Run: `.venv/bin/python benchmarks/predict_speed.py`.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

import ghnq_tf as gq  # noqa: E402
from ghnq_tf._keras import keras, tf  # noqa: E402
from ghnq_tf.prediction.predict import predict_many  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ghn = gq.GHN().build_all()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ghn.keras")
        ghn.save(path)
        checkpoint_bytes = os.path.getsize(path)
    figures = {
        "ghn_config": ghn.get_config(),
        "ghn_parameters": int(ghn.count_params()),
        "ghn_checkpoint_bytes": checkpoint_bytes,
    }
    print(
        f"default GHN: {figures['ghn_parameters']:,} parameters, "
        f"{checkpoint_bytes / 1e6:.2f} MB checkpoint"
    )
    images = tf.random.stateless_normal([64, 32, 32, 3], seed=[0, 0])
    labels = tf.random.stateless_uniform([64], seed=[0, 1], maxval=10, dtype=tf.int32)
    for name in ("MobileNetV2", "ResNet50"):
        model = getattr(keras.applications, name)(input_shape=(32, 32, 3), weights=None, classes=10)
        predict_many([model], bits=4, ghn=ghn)  # warm-up: traces, caches
        timings: dict[str, float] = {}
        start = time.perf_counter()
        (qmodel,) = predict_many([model], bits=4, ghn=ghn, timings=timings)
        total = time.perf_counter() - start
        qmodel.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
        )
        qmodel.train_on_batch(images, labels)  # trace
        start = time.perf_counter()
        for _ in range(3):
            qmodel.train_on_batch(images, labels)
        qat_step = (time.perf_counter() - start) / 3
        row = {
            "predict_total_s": round(total, 3),
            **{f"{k}_s": round(v, 3) for k, v in timings.items()},
            "ghn_share": round(timings["ghn"] / total, 3),
            "qat_train_step_s_batch64": round(qat_step, 3),
            "peak_rss_mb": round(_peak_mb(), 1),
        }
        figures[name] = row
        print(
            f"{name}: predict {total:.2f} s = graph {timings['graph']:.2f} + GHN "
            f"{timings['ghn']:.2f} ({row['ghn_share']:.0%}) + quantize "
            f"{timings['quantize']:.2f} + inject {timings['inject']:.3f}; one QAT step "
            f"(batch 64) {qat_step:.2f} s; peak RSS {row['peak_rss_mb']:.0f} MB"
        )
    save("predict_speed", figures)


if __name__ == "__main__":
    main()
