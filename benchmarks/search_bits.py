"""Benchmark: mixed-precision bit search (`gq.tuning.search_bits`) vs uniform W4A4.

For 5 `test` architectures of the search space and MobileNetV2 (10 classes),
at the weight-memory budget of uniform 4-bit weights: search 2/4/8 bits per
weighted layer with Keras Tuner, each candidate scored by the top-1 of
GHN-predicted, calibrated parameters on a small batch of `train` images (no
training); then the found policy's predicted-parameter top-1 on held-out
`test` images against uniform W4A4 (both through `gq.predict`, calibrated
on the same images). Also the time per candidate, against the plain path
(`gq.predict(model, bits=policy)` + calibration + evaluation).

Usage:
    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/search_bits.py --ghn GHN.keras \\
        [--data image_folder:../shared/data/cifar10] [--trials 30] [--archs 5]

A short smoke run: `--archs 1 --models --trials 3 --score-images 64 --test-images 128
--output search_bits_smoke`. Prints a table and saves benchmarks/results/<output>.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import save  # noqa: E402

import ghnq_tf as gq  # noqa: E402
from ghnq_tf._applications import build_application  # noqa: E402
from ghnq_tf.tuning.bit_search import BitTuner  # noqa: E402
from ghnq_tf.tuning.evaluator import PolicyEvaluator  # noqa: E402

CIFAR_FOLDER = "../shared/data/cifar10"


def _arrays(name: str, split: str, count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    ds = gq.data.load(name, split, batch_size=min(count, 256), limit=count, image_size=size)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def _top1(qmodel, x: np.ndarray, y: np.ndarray) -> float:
    out = qmodel.predict(x, batch_size=64, verbose=0)
    return float(np.mean(out.argmax(-1) == y))


def _models(args: argparse.Namespace, num_classes: int) -> list[tuple[str, object]]:
    shape = (args.image_size, args.image_size, 3)
    models = [
        (f"test[{i}]", gq.search_space.build(spec, input_shape=shape, num_classes=num_classes))
        for i, spec in enumerate(gq.search_space.split("test", args.archs))
    ]
    for name in args.models:
        models.append((name, build_application(name, side=args.image_size, classes=num_classes)))
    return models


def run_model(label, model, ghn, score, test, args, directory) -> dict:
    (xs, ys), (xt, yt) = score, test
    evaluator = PolicyEvaluator(
        model,
        ghn=ghn,
        images=xs,
        labels=ys,
        max_activation_bits=args.max_activation_bits,
        batch_size=32,
    )
    tuner = BitTuner(
        evaluator,
        budget=None,  # uniform 4-bit weight memory
        oracle=args.oracle,
        max_trials=args.trials,
        seed=args.seed,
        directory=directory,
        project_name=f"bits_{label}",
        overwrite=True,
    )
    tuner.search(verbose=0)
    found = tuner.results()
    policy = tuner.best_policy()
    uniform_score = tuner.oracle.trials[min(tuner.oracle.trials)].score
    rows = {}
    for name, bits in (("uniform_w4a4", 4), ("policy", policy)):
        start = time.perf_counter()  # the plain path: quantize, predict, calibrate, score
        qmodel = gq.predict(model, bits=bits, ghn=ghn, calibration_data=xs, calibration_steps=None)
        rescored = _top1(qmodel, xs, ys)  # must equal the search's score of this policy
        plain = time.perf_counter() - start
        rows[name] = {"test": _top1(qmodel, xt, yt), "plain": plain, "rescored": rescored}
    return {
        "weights": sum(evaluator.weight_counts.values()),
        "layers": len(evaluator.layers),
        "uniform_w4a4_test_top1": rows["uniform_w4a4"]["test"],
        "policy_test_top1": rows["policy"]["test"],
        "uniform_w4a4_score_top1": uniform_score,
        "policy_score_top1": found["best_accuracy"],
        # gq.predict(model, bits=...) on the scoring batch: reproduces the search's scores
        "uniform_w4a4_rescored_top1": rows["uniform_w4a4"]["rescored"],
        "policy_rescored_top1": rows["policy"]["rescored"],
        "plain_candidate_seconds": rows["policy"]["plain"],
        **{k: v for k, v in found.items() if k not in ("best_accuracy",)},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ghn", default=None, help="a GHN .keras file (default: bundled cifar10)")
    default_data = f"image_folder:{CIFAR_FOLDER}" if os.path.isdir(CIFAR_FOLDER) else "cifar10"
    parser.add_argument("--data", default=default_data)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--archs", type=int, default=5, help="`test` architectures")
    parser.add_argument("--models", nargs="*", default=["MobileNetV2"])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--oracle", default="random", choices=["random", "bayesian"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score-images", type=int, default=256, help="train images scored")
    parser.add_argument("--test-images", type=int, default=2000, help="held-out test images")
    parser.add_argument(
        "--max-activation-bits", type=int, default=4, help="bound on activation bits (0: none)"
    )
    parser.add_argument("--output", default="search_bits", help="results/<output>.json")
    args = parser.parse_args(argv)
    args.max_activation_bits = args.max_activation_bits or None

    ghn = gq.GHN.load(args.ghn) if args.ghn else gq.GHN.from_pretrained("cifar10")
    num_classes = gq.data.info(args.data)["num_classes"]
    score = _arrays(args.data, "train", args.score_images, args.image_size)
    test = _arrays(args.data, "test", args.test_images, args.image_size)
    results = {}
    with tempfile.TemporaryDirectory(prefix="ghnq_bits_bench_") as directory:
        for label, model in _models(args, num_classes):
            row = run_model(label, model, ghn, score, test, args, directory)
            results[label] = row
            print(
                f"{label:12s} W4A4 {row['uniform_w4a4_test_top1']:.2%}  policy "
                f"{row['policy_test_top1']:.2%}  (scored {row['uniform_w4a4_score_top1']:.2%} → "
                f"{row['policy_score_top1']:.2%}, rescored {row['policy_rescored_top1']:.2%}; "
                f"bits {row['bits_histogram']}; "
                f"{row['best_weight_bits'] / row['budget']:.0%} of budget)  "
                f"{row['seconds_per_candidate'] or float('nan'):.2f} s/candidate vs "
                f"{row['plain_candidate_seconds']:.1f} s plain; setup {row['setup_seconds']:.1f} s"
            )
    rows = list(results.values())
    per_candidate = [r["seconds_per_candidate"] for r in rows if r["seconds_per_candidate"]]
    summary = {
        "mean_uniform_w4a4_test_top1": statistics.mean(r["uniform_w4a4_test_top1"] for r in rows),
        "mean_policy_test_top1": statistics.mean(r["policy_test_top1"] for r in rows),
        "policy_better_on": sum(r["policy_test_top1"] > r["uniform_w4a4_test_top1"] for r in rows),
        "models": len(rows),
        "median_seconds_per_candidate": statistics.median(per_candidate) if per_candidate else None,
        "median_plain_candidate_seconds": statistics.median(
            r["plain_candidate_seconds"] for r in rows
        ),
    }
    print(
        f"mean test top-1: uniform W4A4 {summary['mean_uniform_w4a4_test_top1']:.2%}, found "
        f"policy {summary['mean_policy_test_top1']:.2%} (better on {summary['policy_better_on']}"
        f"/{len(rows)}); median {summary['median_seconds_per_candidate'] or float('nan'):.2f} s "
        f"per candidate vs {summary['median_plain_candidate_seconds']:.1f} s plain"
    )
    figures = {"settings": vars(args), "summary": summary, "models": results}
    save(args.output, figures)
    return figures


if __name__ == "__main__":
    main()
