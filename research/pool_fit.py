"""How well a trained GHN fits its own training pool, network by network.

The screen's GHNs score about 19 % on their own training pool after 400
steps, about what they score on unseen networks: the recipe underfits. This
script says whether it underfits every network alike or fails on some kinds
(no batch norm, many cells, some operations): it predicts each network of a
run's training pool (rebuilt from the run's `config.json`), calibrates it on
`train[:-2000]` and scores it on held-out `train[-2000:]`, then prints the
mean top-1 grouped by the networks' features. Figures go to
`research/results/pool_fit_<run>.json`.

    .venv/bin/python research/pool_fit.py --run runs/screen/baseline_s0 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import use_threads  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "research" / "results"
DATA = "image_folder:../shared/data/cifar10"
GROUP_KEYS = ("family", "bn", "cells", "nodes", "width", "sep", "dil", "pool", "skip", "blocks")


def features(spec: dict) -> dict:
    """What may make a network hard to predict: family, BN, size, operations."""
    import ghnq_tf as gq

    feats = {
        "family": spec.get("family", "darts"),
        "bn": bool(spec["bn"]),
        "mmacs": round(gq.search_space.macs(spec) / 1e6, 1),
    }
    if feats["family"] == "darts":
        ops = [op for cell in ("normal", "reduce") for node in spec[cell] for op, _ in node]
        feats.update(
            cells=spec["num_cells"],
            nodes=spec["num_nodes"],
            width=spec["width"],
            sep=sum("sep" in op for op in ops),
            dil=sum("dil" in op for op in ops),
            pool=sum("pool" in op for op in ops),
            skip=sum(op == "skip_connect" for op in ops),
        )
    else:
        feats["blocks"] = "+".join(sorted({stage["block"] for stage in spec["stages"]}))
    return feats


def group_means(rows: list[dict], key: str) -> dict:
    groups: dict = {}
    for row in rows:
        groups.setdefault(row["features"].get(key), []).append(row["top1"])
    return {
        str(value): (round(100 * statistics.mean(v), 1), len(v))
        for value, v in sorted(groups.items(), key=lambda kv: str(kv[0]))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a `ghnq-tf train` output directory")
    parser.add_argument("--checkpoint", default="ghn_last.keras")
    parser.add_argument("--bits", type=int, default=8)
    parser.add_argument("--limit", type=int, default=1000, help="held-out images scored")
    parser.add_argument("--archs", type=int, default=None, help="first N pool networks only")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", default=DATA)
    args = parser.parse_args(argv)

    use_threads(args.threads)
    import ghnq_tf as gq
    from ghnq_tf.training.config import config_from_dict
    from ghnq_tf.training.run import training_pool

    run = Path(args.run)
    config = config_from_dict(json.loads((run / "config.json").read_text()))
    pool = training_pool(config, (32, 32, 3))[: args.archs]
    start = time.process_time()
    result = gq.evaluate(
        str(run / args.checkpoint),
        split=pool,
        bits=(args.bits,),
        data=args.data,
        limit=args.limit,
        test_split="train[-2000:]",
        calibration_split="train[:-2000]",
        baselines=[],
    )
    scores = result["methods"]["ghn"][args.bits]["per_arch"]
    rows = [
        {"index": i, "top1": scores[f"arch[{i}]"], "features": features(spec)}
        for i, spec in enumerate(pool)
    ]
    summary = {
        key: group_means(rows, key)
        for key in (
            "family",
            "bn",
            "cells",
            "nodes",
            "width",
            "sep",
            "dil",
            "pool",
            "skip",
            "blocks",
        )
        if any(key in row["features"] for row in rows)
    }
    top1 = [row["top1"] for row in rows]
    record = {
        "run": str(run),
        "checkpoint": args.checkpoint,
        "bits": args.bits,
        "limit": args.limit,
        "mean": statistics.mean(top1),
        "quartiles": statistics.quantiles(top1, n=4),
        "at_chance": sum(t < 0.12 for t in top1),
        "summary": summary,
        "rows": rows,
        "cpu_minutes": (time.process_time() - start) / 60,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"pool_fit_{run.name}.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(
        f"{run.name}: pool of {len(rows)}, W{args.bits}A{args.bits} mean "
        f"{100 * record['mean']:.1f} %, quartiles "
        + " / ".join(f"{100 * q:.1f}" for q in record["quartiles"])
        + f", {record['at_chance']} below 12 %"
    )
    for key, groups in summary.items():
        print(f"  by {key}: " + ", ".join(f"{v}: {m} % ({n})" for v, (m, n) in groups.items()))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
