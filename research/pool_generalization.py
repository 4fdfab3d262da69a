"""Research: does a GHN predict better for the networks it trained on than for unseen ones?

A GHN trained by a config sees only that config's pool of training
architectures (`search_space.train_size` networks of at most `max_macs`).
This script evaluates it, with `gq.evaluate`'s calibration and test images,
on the first `--archs` networks of that pool and on the first `--archs`
`test` networks within the same MACs cap, so the two groups differ only in
whether the GHN has seen them. A large gap means the pool is too small (the
GHN memorizes its networks); no gap means a larger pool will not help.

Run: `.venv/bin/python research/pool_generalization.py --ghn cifar10`
Results: `research/results/pool_generalization.json` (and the two
`gq.evaluate` outputs under `research/results/pool_generalization_*/`).
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import RESULTS, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ghn", default="cifar10", help="bundled name or .keras path")
    parser.add_argument(
        "--config", default="configs/cifar10_float.yaml", help="the config whose pool it saw"
    )
    parser.add_argument("--archs", type=int, default=10, help="networks per group")
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 4])
    parser.add_argument("--data", default="image_folder:../shared/data/cifar10")
    parser.add_argument("--limit", type=int, default=2000, help="first N test images")
    parser.add_argument("--output", default="pool_generalization")
    args = parser.parse_args()

    import ghnq_tf as gq
    from ghnq_tf.training.config import load_config
    from ghnq_tf.training.run import architectures_within, training_pool

    config = load_config(args.config)
    pool = training_pool(config, (32, 32, 3))
    unseen, _ = architectures_within("test", args.archs, config.search_space.max_macs, (32, 32, 3))
    if len(unseen) < args.archs:
        raise SystemExit(f"too few `test` networks within {config.search_space.max_macs} MACs")
    groups = {"seen": pool[: args.archs], "unseen": unseen}
    started = time.perf_counter()
    figures: dict[str, object] = {}
    for name, specs in groups.items():
        result = gq.evaluate(
            args.ghn,
            split=specs,
            bits=args.bits,
            data=args.data,
            limit=args.limit,
            baselines=[],
            ghn_batch=1,
            output_dir=RESULTS / f"{args.output}_{name}",
        )
        ghn = result["methods"]["ghn"]
        figures[name] = {
            "mean_macs": statistics.fmean(gq.search_space.macs(s) for s in specs),
            **{
                f"w{bits}": {"mean": ghn[bits]["mean"], "per_arch": ghn[bits]["per_arch"]}
                for bits in args.bits
            },
        }
        print(name, {b: round(100 * ghn[b]["mean"], 1) for b in args.bits}, flush=True)
    gap = {
        f"w{b}": figures["seen"][f"w{b}"]["mean"] - figures["unseen"][f"w{b}"]["mean"]
        for b in args.bits
    }
    print("seen minus unseen, points:", {k: round(100 * v, 1) for k, v in gap.items()})
    save(
        args.output,
        {
            "command": "research/pool_generalization.py "
            + " ".join(
                f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                for k, v in vars(args).items()
            ),
            "seconds": time.perf_counter() - started,
            "pool": {"config": args.config, "train_size": len(pool)},
            "groups": figures,
            "seen_minus_unseen": gap,
        },
    )


if __name__ == "__main__":
    main()
