"""Benchmark: where one architecture's `gq.evaluate` time goes (tracing or computing).

For one CIFAR-10 `test` architecture at W4A4 with the bundled `cifar10` GHN:
quantize-wrapping, then `Calibrator.calibrate` (8 batches of 64, least-squares
ranges) and the 10,000-image evaluation, each run twice on the same model so
the second run has no tracing; and the float network's own inference on the
same images, the floor no quantizer setting can go under.
Run: `.venv/bin/python benchmarks/eval_cost.py [--arch 0] [--ranges mse] [--data cifar10]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

from ghnq_tf._keras import keras, tf  # noqa: E402
from ghnq_tf.evaluation.inputs import EvalData, resolve_ghn, split_archs  # noqa: E402
from ghnq_tf.evaluation.runner import metrics_fn, top1_and_loss  # noqa: E402
from ghnq_tf.graph.from_keras import graph_from_keras  # noqa: E402
from ghnq_tf.quant import quantize  # noqa: E402
from ghnq_tf.quant.calibration import Calibrator  # noqa: E402
from ghnq_tf.quant.variables import inject, target_list  # noqa: E402


def _timed(fn: object) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()  # type: ignore[operator]
    return out, round(time.perf_counter() - start, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=0, help="index in the `test` split")
    parser.add_argument("--ranges", default="mse", choices=("mse", "minmax"))
    parser.add_argument(
        "--data", default="image_folder:../shared/data/cifar10", help="a gq.data.load name"
    )
    args = parser.parse_args()
    source = EvalData(
        args.data,
        limit=None,
        calibration_steps=8,
        calibration_batch_size=64,
        seed=0,
        ranges=args.ranges,
    )
    arch = split_archs("test", args.arch + 1, None)[args.arch]
    ghn = resolve_ghn("cifar10", "ghn")
    keras.utils.set_random_seed(args.arch)
    model = arch.build(source.num_classes, arch.size or source.default_size)
    graph = graph_from_keras(model)
    x_test, y_test, x_cal = source.arrays(arch.size)
    figures: dict[str, object] = {"arch": arch.name, "params": int(model.count_params())}
    qmodel, figures["quantize_seconds"] = _timed(lambda: quantize(model, bits=4))
    inject(target_list(qmodel, model, graph), ghn.predict_params([graph], bits=4)[0])
    calibrator = Calibrator(qmodel)
    figures["calibrate_seconds"] = [
        _timed(lambda: calibrator.calibrate(x_cal, batch_size=64, ranges=args.ranges))[1]
        for _ in range(2)
    ]
    metrics = metrics_fn(qmodel, tuple(qmodel.input_shape[1:]))
    runs = [_timed(lambda: top1_and_loss(metrics, x_test, y_test, 250)) for _ in range(2)]
    figures["w4a4_top1"] = runs[0][0][0]
    figures["evaluate_seconds"] = [seconds for _, seconds in runs]
    floated = tf.function(lambda x: model(x, training=False), autograph=False)

    def float_pass() -> None:
        for start in range(0, int(x_test.shape[0]), 250):
            floated(x_test[start : start + 250])

    figures["float_inference_seconds"] = [_timed(float_pass)[1] for _ in range(2)]
    for key, value in figures.items():
        print(f"{key}: {value}")
    save("eval_cost", {"ranges": args.ranges, "test_images": int(x_test.shape[0]), **figures})


if __name__ == "__main__":
    main()
