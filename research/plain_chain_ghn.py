"""A GHN trained briefly on plain conv chains, against the issue's crude reference.

The CIFAR-10 issue quotes a crude per-layer hypernetwork (no graph) that,
trained 15 minutes at 4 bits on this machine, reached 43.6 % (W8) and
41.3 % (W4) mean top-1 on 20 unseen plain CNNs. `research/plain_cnns.py`
shows the bundled GHN, trained on the DARTS-style space, far below that on
plain CNNs. This script asks whether the gap is the training distribution or
the GHN: it trains a fresh GHN (the config's `ghn` and trainer settings)
for `--minutes` (or `--steps`) on a pool of plain chains of the search space (one node per
cell: a 1×1 conv then a 3×3 or 5×5 conv, BN-ReLU, widths 16–48, 4–10 cells),
then evaluates it with `gq.evaluate` on `--eval-archs` held-out chains,
beside the bundled `cifar10` GHN and Keras' initialization on the same
networks.

Run: `.venv/bin/python research/plain_chain_ghn.py --minutes 15`
(`--override ghn.basis=128 --no-compare --output NAME` tries a GHN variant
alone; saves `research/results/plain_chain_ghn.json` and the GHN under
`runs/plain_chain_ghn/`).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from _common import local_data, save, train_curve

CHAIN_OPS = ("conv_3x3", "conv_5x5")


def chain_spec(rng: random.Random) -> dict[str, object]:
    """One plain chain of `gq.search_space`: a single conv node per cell."""
    cells = rng.randint(4, 10)
    return {
        "version": 1,
        "width": rng.choice(range(16, 49, 8)),
        "num_cells": cells,
        "num_nodes": 1,
        "bn": True,
        "normal": [[[rng.choice(CHAIN_OPS), 1]]],
        "reduce": [[[rng.choice(CHAIN_OPS), 1]]],
        "reductions": [cells // 3, 2 * cells // 3],
    }


def chain_specs(count: int, *, seed: int, exclude: set[str]) -> list[dict[str, object]]:
    """`count` distinct chains whose hashes are not in `exclude`."""
    import ghnq_tf as gq

    rng, specs, seen = random.Random(seed), [], set(exclude)
    while len(specs) < count:
        spec = chain_spec(rng)
        key = gq.search_space.spec_hash(spec)
        if key not in seen:
            seen.add(key)
            specs.append(spec)
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cifar10_float.yaml")
    parser.add_argument("--override", nargs="*", default=[], help="config key=value pairs")
    parser.add_argument("--minutes", type=float, default=15.0, help="training wall time")
    parser.add_argument(
        "--steps", type=int, default=None, help="stop after this many steps (fair under load)"
    )
    parser.add_argument("--pool", type=int, default=64, help="training chains")
    parser.add_argument("--eval-archs", type=int, default=10, help="held-out chains")
    parser.add_argument("--limit", type=int, default=2000, help="first N test images")
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="evaluate only the trained GHN (not the bundled one, not Keras' initialization)",
    )
    parser.add_argument("--output", default="plain_chain_ghn")
    args = parser.parse_args()

    import ghnq_tf as gq
    from ghnq_tf._keras import keras
    from ghnq_tf.training.config import load_config
    from ghnq_tf.training.run import initial_ghn, make_datasets, make_optimizer, make_trainer

    config = load_config(args.config, overrides=args.override)
    t = config.training
    train_ds, _, shape, classes = make_datasets(config)
    pool = chain_specs(args.pool, seed=0, exclude=set())
    held_out = chain_specs(
        args.eval_archs, seed=1, exclude={gq.search_space.spec_hash(s) for s in pool}
    )
    keras.utils.set_random_seed(t.seed)
    trainer = make_trainer(
        config, initial_ghn(config), input_shape=shape, num_classes=classes, archs=pool
    )
    trainer.compile(optimizer=make_optimizer(config))
    batches = iter(train_ds)

    def step() -> float:
        trainer.reset_metrics()  # the step's own accuracy, not a running mean
        return trainer.train_step(next(batches))["accuracy"].numpy()

    start = time.perf_counter()
    curve, steps = train_curve(step, steps=args.steps, seconds=60 * args.minutes, label="ghn")
    train_seconds = time.perf_counter() - start
    out_dir = Path("runs") / args.output
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer.ghn.save(out_dir / "ghn.keras")

    data = local_data("cifar10")
    common = dict(
        split=held_out, bits=(8, 4, 2), data=data, limit=args.limit, ghn_batch=1, progress=False
    )
    ours = gq.evaluate(trainer.ghn, baselines=() if args.no_compare else ("random",), **common)
    figures = {"chain_ghn": ours["methods"]["ghn"]}
    per_arch = {"chain_ghn_and_random": ours["archs"]}
    if not args.no_compare:
        bundled = gq.evaluate("cifar10", baselines=(), **common)
        figures |= {
            "random": ours["methods"]["random"],
            "bundled_cifar10": bundled["methods"]["ghn"],
        }
        per_arch["bundled_cifar10"] = bundled["archs"]
    for name, by_bits in figures.items():
        print(
            f"{name:>16}: "
            + "  ".join(f"W{b}A{b} {s['mean']:.1%} ± {s['std']:.1%}" for b, s in by_bits.items())
        )
    save(
        args.output,
        {
            "command": " ".join([".venv/bin/python research/plain_chain_ghn.py", *sys.argv[1:]]),
            "train_steps": steps,
            "train_seconds": train_seconds,
            "curve": curve,
            "config": config.to_dict(),
            "test_images": args.limit,
            "summary": figures,
            "held_out": held_out,
            "per_arch": per_arch,
        },
    )


if __name__ == "__main__":
    main()
