"""Example: predict → evaluate → fine-tune → export, on CIFAR-10.

1. A network the GHN never saw (the `test` split of the search space, or
   `--application MobileNetV2`) gets 4-bit parameters in one GHN call,
   calibrated on 8 training batches.
2. Its quantize-aware model is evaluated on the CIFAR-10 test images.
3. It is fine-tuned with plain `model.fit` for `--steps` QAT steps and
   evaluated again, with the recipe `docs/finetuning.md` measured: Adam at
   `--lr`, reached linearly over `--warmup` steps, and `--tiling-noise` on
   the channel copies the GHN tiles into layers wider than 64 channels.
4. It is exported to a full-integer TFLite model and run with LiteRT.

Run: `.venv/bin/python examples/cifar10.py [--ghn cifar10|PATH] [--steps 300]`.
`--data` is any `gq.data.load` name: `cifar10` (the default, TensorFlow
Datasets, downloaded on first use) or a local copy as an image folder, e.g.
`python examples/cifar10.py --data image_folder:../shared/data/cifar10`.
`--limit 2000` evaluates on fewer test images for a quicker run.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tf_keras as keras  # noqa: E402

import ghnq_tf as gq  # noqa: E402

# The fine-tuning recipe of docs/finetuning.md.
LR, WARMUP, TILING_NOISE = 1e-3, 0, 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ghn", default="cifar10", help="bundled name or .keras path")
    parser.add_argument(
        "--data", default="cifar10", help="cifar10 (TensorFlow Datasets) or image_folder:<path>"
    )
    parser.add_argument("--arch", type=int, default=0, help="index in the `test` split")
    parser.add_argument("--application", help="a tf_keras.applications name instead")
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps")
    parser.add_argument("--lr", type=float, default=LR, help="Adam's rate")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="linear warm-up steps")
    parser.add_argument(
        "--tiling-noise", type=float, default=TILING_NOISE, help="gq.predict(tiling_noise=...)"
    )
    parser.add_argument("--limit", type=int, default=None, help="first N test images")
    parser.add_argument("--output", default="cifar10_example.tflite")
    args = parser.parse_args()

    data = args.data
    train = gq.data.load(data, "train", batch_size=64, augment=True).repeat()
    calibration = gq.data.load(data, "train", batch_size=64)
    test = gq.data.load(data, "test", batch_size=500, limit=args.limit)
    load = gq.GHN.load if args.ghn.endswith(".keras") else gq.GHN.from_pretrained
    ghn = load(args.ghn)

    if args.application:
        model = getattr(keras.applications, args.application)(
            input_shape=(32, 32, 3), weights=None, classes=10
        )
    else:
        model = gq.search_space.build(gq.search_space.split("test", args.arch + 1)[-1])

    start = time.perf_counter()
    qmodel = gq.predict(
        model,
        bits=args.bits,
        ghn=ghn,
        calibration_data=calibration,
        tiling_noise=args.tiling_noise,
        seed=0,
    )
    seconds = time.perf_counter() - start
    print(f"1. predicted W{args.bits}A{args.bits} parameters in {seconds:.1f} s")

    rate = args.lr
    if args.warmup:  # linear from lr / warmup to lr over the first `warmup` steps
        rate = keras.optimizers.schedules.PolynomialDecay(
            args.lr / args.warmup, args.warmup, args.lr, power=1.0
        )
    qmodel.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(f"2. test top-1 of the prediction: {qmodel.evaluate(test, verbose=0)[1]:.1%}")

    qmodel.fit(train, steps_per_epoch=args.steps, epochs=1)
    print(f"3. test top-1 after {args.steps} QAT steps: {qmodel.evaluate(test, verbose=0)[1]:.1%}")

    tflite = gq.export_tflite(qmodel, representative_data=calibration, path=args.output)
    images, labels = next(iter(test))
    litert = gq.evaluate_tflite(tflite, (images.numpy(), labels.numpy()))
    print(
        f"4. exported {args.output} ({len(tflite) / 1024:.0f} KiB); LiteRT top-1 on "
        f"{len(labels)} test images: {litert['accuracy']:.1%}"
    )


if __name__ == "__main__":
    main()
