"""Benchmark: how many calibration images `gq.predict` needs for a stable top-1.

For the first `--archs` networks of the `test` split (32×32, 10 classes), the
bundled `cifar10` GHN predicts W4A4 parameters once; the model is then
calibrated (`gq.calibrate`, least-squares ranges, batches of 32) on the first
128 / 256 / 512 training images and scored on the held-out training images
`train[-2000:]` (never the test images). Reports top-1 and calibration seconds
per size (the first size includes tracing the two calibration passes).
Run: `.venv/bin/python benchmarks/calibration_size.py --archs 4`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import local_data, save  # noqa: E402

import ghnq_tf as gq  # noqa: E402
from ghnq_tf._keras import keras  # noqa: E402
from ghnq_tf.quant.calibration import Calibrator  # noqa: E402

SIZES = (128, 256, 512)


def _arrays(data: str, split: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for x, y in gq.data.load(data, split, batch_size=500, shuffle=False, limit=limit):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)


def _top1(qmodel: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    logits = qmodel.predict(images, batch_size=500, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=4)
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--data", default=local_data("cifar10"))
    args = parser.parse_args()

    calibration, _ = _arrays(args.data, "train", max(SIZES))
    holdout = _arrays(args.data, "train[-2000:]", 2000)
    ghn = gq.GHN.from_pretrained("cifar10")
    rows = []
    for index, spec in enumerate(gq.search_space.split("test", args.archs)):
        keras.utils.set_random_seed(index)
        model = gq.search_space.build(spec, input_shape=(32, 32, 3), num_classes=10)
        qmodel = gq.predict(model, bits=args.bits, ghn=ghn)
        predicted = qmodel.get_weights()
        calibrator = Calibrator(qmodel)
        row = {"arch": f"test[{index}]", "params": int(model.count_params())}
        for size in SIZES:
            qmodel.set_weights(predicted)
            start = time.perf_counter()
            calibrator.calibrate(calibration[:size], batch_size=32)
            row[f"seconds_{size}"] = round(time.perf_counter() - start, 2)
            row[f"top1_{size}"] = round(_top1(qmodel, *holdout), 4)
        rows.append(row)
        print(
            row["arch"],
            "  ".join(f"{s}: {row[f'top1_{s}']:.1%} ({row[f'seconds_{s}']:.1f} s)" for s in SIZES),
            flush=True,
        )
    summary = {}
    for size in SIZES:
        gaps = [abs(r[f"top1_{size}"] - r[f"top1_{max(SIZES)}"]) for r in rows]
        summary[str(size)] = {
            "mean_top1": round(statistics.mean(r[f"top1_{size}"] for r in rows), 4),
            "max_gap_to_512_points": round(100 * max(gaps), 2),
            "mean_gap_to_512_points": round(100 * statistics.mean(gaps), 2),
        }
        print(f"{size} images: {summary[str(size)]}")
    save(
        "calibration_size",
        {"bits": args.bits, "archs": args.archs, "rows": rows, "summary": summary},
    )


if __name__ == "__main__":
    main()
