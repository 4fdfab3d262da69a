"""Predicted parameters for plain Keras CNNs, outside the search space.

The issue that ships the CIFAR-10 GHNs quotes a reference: a crude
per-layer hypernetwork (no graph), trained 15 minutes at 4 bits, reached
43.6 % (W8) and 41.3 % (W4) mean top-1 on 20 unseen plain CNNs. This script
measures the bundled GHN on the same kind of network: `--archs` seeded
`keras.Sequential` CNNs (three stages of Conv2D-BN-ReLU blocks, max pooling
between stages, global average pooling, a Dense head), built with plain
Keras layers rather than `gq.search_space`. Each one gets the GHN's
parameters through `gq.predict` (the user's path), and Keras' own
initialization through `gq.quantize` + `gq.calibrate` (the chance check);
both are calibrated on the same 8 shuffled training batches and evaluated
on the first `--limit` CIFAR-10 test images.

Run: `.venv/bin/python research/plain_cnns.py [--archs 20] [--limit 2000]`
(saves `research/results/plain_cnns.json`; `--output NAME` renames it).
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import _common
import numpy as np

import ghnq_tf as gq
from ghnq_tf._keras import keras

WIDTHS = (16, 24, 32, 48, 64)


def plain_spec(seed: int) -> dict[str, object]:
    """The seeded description of one plain CNN: base width, blocks per stage, kernels."""
    rng = random.Random(seed)
    blocks = [rng.randint(1, 3) for _ in range(3)]
    return {
        "width": rng.choice(WIDTHS),
        "blocks": blocks,
        "kernels": [[rng.choice((3, 3, 5)) for _ in range(n)] for n in blocks],
    }


def build_plain(spec: dict[str, object], *, name: str) -> keras.Model:
    """A Sequential CNN: per stage, Conv2D-BN-ReLU blocks at twice the previous width."""
    layers: list[keras.layers.Layer] = [keras.Input((32, 32, 3))]
    for stage, kernels in enumerate(spec["kernels"]):
        if stage:
            layers.append(keras.layers.MaxPooling2D())
        width = spec["width"] * 2**stage
        for kernel in kernels:
            layers += [
                keras.layers.Conv2D(width, kernel, padding="same", use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(),
            ]
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)]
    return keras.Sequential(layers, name=name)


def top1(qmodel: keras.Model, test: object) -> float:
    """Test top-1 of a quantize-aware model that outputs logits."""
    qmodel.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return float(qmodel.evaluate(test, verbose=0)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ghn", default="cifar10", help="bundled name or .keras path")
    parser.add_argument("--archs", type=int, default=20, help="number of plain CNNs")
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 4, 2])
    parser.add_argument("--limit", type=int, default=2000, help="first N test images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first network")
    parser.add_argument("--output", default="plain_cnns")
    args = parser.parse_args()

    data = _common.local_data("cifar10")
    calibration = gq.data.load(data, "train", batch_size=64)
    test = gq.data.load(data, "test", batch_size=500, limit=args.limit)
    load = gq.GHN.load if args.ghn.endswith(".keras") else gq.GHN.from_pretrained
    ghn = load(args.ghn)

    records = []
    start = time.perf_counter()
    for index in range(args.archs):
        spec = plain_spec(args.seed + index)
        model = build_plain(spec, name=f"plain_{args.seed + index}")
        record = {"spec": spec, "params": model.count_params(), "ghn": {}, "random": {}}
        for bits in args.bits:
            qmodel = gq.predict(model, bits=bits, ghn=ghn, calibration_data=calibration)
            record["ghn"][bits] = top1(qmodel, test)
            fresh = keras.models.clone_model(model)  # Keras' own initialization
            qrandom = gq.calibrate(gq.quantize(fresh, bits=bits), calibration, steps=8)
            record["random"][bits] = top1(qrandom, test)
        records.append(record)
        row = "  ".join(
            f"W{b}: ghn {record['ghn'][b]:.1%} random {record['random'][b]:.1%}" for b in args.bits
        )
        print(f"[{index + 1}/{args.archs}] {model.name} {spec} — {row}", flush=True)

    summary = {
        method: {
            bits: {
                "mean": float(np.mean([r[method][bits] for r in records])),
                "std": float(np.std([r[method][bits] for r in records])),
                "max": float(np.max([r[method][bits] for r in records])),
            }
            for bits in args.bits
        }
        for method in ("ghn", "random")
    }
    for method, by_bits in summary.items():
        print(
            f"{method:>6}: "
            + "  ".join(
                f"W{b}A{b} {s['mean']:.1%} ± {s['std']:.1%} (max {s['max']:.1%})"
                for b, s in by_bits.items()
            )
        )
    _common.save(
        args.output,
        {
            "command": " ".join([".venv/bin/python research/plain_cnns.py", *sys.argv[1:]]),
            "ghn": args.ghn,
            "test_images": args.limit,
            "seconds": time.perf_counter() - start,
            "summary": summary,
            "archs": records,
        },
    )


if __name__ == "__main__":
    main()
