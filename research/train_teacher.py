"""Trains the CIFAR-10 teacher that `training.distill` reads.

A small ResNet (3 stages of basic blocks, 32/64/128 channels, BN, ReLU),
trained with plain Keras on the training images less the 2,000 held-out
ones (`train[:-2000]`, augmented), scored on the held-out `train[-2000:]`
(the images the screen and validation use, never the test images). SGD
with momentum, one-cycle learning rate.

    .venv/bin/python research/train_teacher.py \
        --data image_folder:../shared/data/cifar10 --epochs 12 --threads 1 \
        --output research/teachers/cifar10_resnet.keras

Writes the model (`.keras`) and a JSON beside it with the command, the
settings, the held-out top-1 and the time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import use_threads  # noqa: E402


def resnet(width: int, blocks: int, num_classes: int):
    """A CIFAR ResNet: stem conv, 3 stages of `blocks` basic blocks, GAP, dense."""
    from ghnq_tf._keras import keras

    layers = keras.layers
    reg = keras.regularizers.l2(5e-4)

    def conv(x, filters, stride=1, kernel=3):
        return layers.Conv2D(
            filters, kernel, stride, padding="same", use_bias=False, kernel_regularizer=reg
        )(x)

    inputs = keras.Input((32, 32, 3))
    x = layers.ReLU()(layers.BatchNormalization()(conv(inputs, width)))
    for stage in range(3):
        filters = width * 2**stage
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            y = layers.ReLU()(layers.BatchNormalization()(conv(x, filters, stride)))
            y = layers.BatchNormalization()(conv(y, filters))
            if stride != 1 or x.shape[-1] != filters:
                x = layers.BatchNormalization()(conv(x, filters, stride, kernel=1))
            x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, kernel_regularizer=reg)(x)
    return keras.Model(inputs, outputs, name=f"teacher_resnet_w{width}_b{blocks}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cifar10", help="a gq.data.load name")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="research/teachers/cifar10_resnet.keras")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow threads")
    args = parser.parse_args(argv)

    import ghnq_tf as gq
    from ghnq_tf._keras import keras

    use_threads(args.threads)

    keras.utils.set_random_seed(args.seed)
    train = gq.data.load(
        args.data,
        "train[:-2000]",
        batch_size=args.batch_size,
        augment=True,
        seed=args.seed,
        drop_remainder=True,
    )
    held_out = gq.data.load(args.data, "train[-2000:]", batch_size=500, shuffle=False)
    steps = args.epochs * int(train.cardinality())
    model = resnet(args.width, args.blocks, gq.data.info(args.data)["num_classes"])
    rate = keras.optimizers.schedules.CosineDecay(
        0.0, steps - steps // 10, warmup_target=args.learning_rate, warmup_steps=steps // 10
    )
    model.compile(
        optimizer=keras.optimizers.SGD(rate, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    cpu = time.process_time()
    model.fit(train, epochs=args.epochs, validation_data=held_out, verbose=2)
    _, top1 = model.evaluate(held_out, verbose=0)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, out)
    record = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "settings": vars(args),
        "params": int(model.count_params()),
        "held_out_top1": float(top1),
        "held_out": "train[-2000:]",
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"teacher {out}: held-out top-1 {top1:.4f}, {record['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
