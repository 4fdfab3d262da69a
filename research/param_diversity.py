"""Research: how diverse the filters of predicted parameters are, against Keras' init.

For the first `--archs` `test` networks, every conv kernel with at least 8
filters (each depthwise channel counts as a filter) is measured two ways:

* effective rank (exp of the entropy of the squared singular values of the
  centred filter matrix) as a fraction of its full rank;
* mean |cosine| between two different filters.

Low rank and high cosine mean redundant filters: a fine-tuning start whose
channels must first be told apart (see `benchmarks/finetune.py`).

Run: `.venv/bin/python research/param_diversity.py --ghn cifar10`
Results: `research/results/param_diversity.json`.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from _common import save


def filter_stats(kernel: np.ndarray) -> tuple[float, float] | None:
    """(effective-rank fraction, mean |cos|) of a 4-D kernel's filters, or None."""
    if kernel.ndim != 4:
        return None
    depthwise = kernel.shape[3] == 1
    filters = kernel[..., 0] if depthwise else kernel
    count = filters.shape[-1] if not depthwise else filters.shape[2]
    if count < 8:
        return None
    matrix = filters.reshape(-1, count).T  # one row per filter
    matrix = matrix - matrix.mean(axis=1, keepdims=True)
    singular = np.linalg.svd(matrix, compute_uv=False)
    share = singular**2 / np.sum(singular**2)
    rank = float(np.exp(-np.sum(share * np.log(share + 1e-12))) / min(matrix.shape))
    unit = matrix / (np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-12)
    cosine = np.abs(unit @ unit.T)[~np.eye(count, dtype=bool)]
    return rank, float(cosine.mean())


def summary(kernels: list[np.ndarray]) -> dict[str, float]:
    rows = [s for s in map(filter_stats, kernels) if s is not None]
    return {
        "kernels": len(rows),
        "effective_rank_fraction": round(statistics.fmean(r for r, _ in rows), 3),
        "mean_abs_cosine": round(statistics.fmean(c for _, c in rows), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ghn", default="cifar10", help="bundled name or .keras path")
    parser.add_argument("--archs", type=int, default=5)
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--output", default="param_diversity")
    args = parser.parse_args()

    import ghnq_tf as gq
    from ghnq_tf._keras import keras

    load = gq.GHN.load if args.ghn.endswith(".keras") else gq.GHN.from_pretrained
    ghn = load(args.ghn)
    rows = []
    for index, spec in enumerate(gq.search_space.split("test", args.archs)):
        keras.utils.set_random_seed(index)
        model = gq.search_space.build(spec, input_shape=(32, 32, 3), num_classes=10)
        (predicted,) = ghn.predict_params([gq.graph_from_keras(model)], bits=args.bits)
        row = {
            "arch": f"test[{index}]",
            "predicted": summary([p.numpy() for p in predicted]),
            "keras_init": summary([v.numpy() for v in model.trainable_variables]),
        }
        rows.append(row)
        print(row, flush=True)
    means = {
        start: {
            key: round(statistics.fmean(r[start][key] for r in rows), 3)
            for key in ("effective_rank_fraction", "mean_abs_cosine")
        }
        for start in ("predicted", "keras_init")
    }
    print("mean over networks:", means)
    save(args.output, {"ghn": args.ghn, "bits": args.bits, "mean": means, "per_arch": rows})


if __name__ == "__main__":
    main()
