"""Research: where, along depth, the predicted features lose their directions.

`feature_probe.py` found that the pooled features of predicted networks
span 2–3.5 effective directions (Keras' initialization: 10), even with
orthonormal filters in every layer. This script follows that spread through
the network: for each `test` network, with the GHN's prediction and with
Keras' initialization (batch norm calibrated on 512 training images, as
`feature_probe.py` does), the output of every conv, depthwise, batch-norm,
add and concatenate layer is average-pooled over space and its effective
rank (exp of the entropy of the squared singular values of the centred
images × channels matrix) divided by its channel count. Layers are binned
by their position in the model's layer order (fifths of depth).

It also measures how alike the predicted kernels of different layers are:
the mean |cosine| between the flattened kernels of every pair of layers
with the same kernel shape (Keras' initialization: about 0). Alike kernels
stacked on each other act like repeated multiplication by one matrix,
which pulls every input toward that matrix's leading directions. And it
measures the mean cosine between the GHN's node states of different nodes,
after message passing and after the encoder alone, and how much of the conv
head's coefficients every conv of a network shares: the norm of their mean
over the network's convs against the RMS of what is left.

Run: `.venv/bin/python research/depth_collapse.py --ghn cifar10_float`
(`--fresh-ghn configs/screen.yaml`: an untrained GHN of that config)
Results: `research/results/depth_collapse_<ghn>.json`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import save, use_threads  # noqa: E402
from feature_probe import DATA, _images, _spectrum, starts  # noqa: E402

BINS = 5


def _layer_ranks(model, x: np.ndarray) -> list[tuple[float, str, float]]:
    """(relative depth, layer class, effective rank / channels) per 4-D layer output."""
    from ghnq_tf._keras import keras

    kinds = (
        keras.layers.Conv2D,
        keras.layers.DepthwiseConv2D,
        keras.layers.BatchNormalization,
        keras.layers.Add,
        keras.layers.Concatenate,
    )
    layers = [
        layer
        for layer in model.layers
        if isinstance(layer, kinds) and len(layer.output.shape) == 4 and layer.output.shape[-1] > 4
    ]
    pool = keras.layers.GlobalAveragePooling2D
    probe = keras.Model(model.inputs, [pool()(layer.output) for layer in layers])
    outputs = [np.asarray(o) for o in probe(x, training=False)]
    rows = []
    for position, (layer, pooled) in enumerate(zip(layers, outputs, strict=True)):
        rank, _ = _spectrum(pooled)
        rows.append(
            (position / max(len(layers) - 1, 1), type(layer).__name__, rank / pooled.shape[1])
        )
    return rows


def _kernel_similarity(kernels: list[np.ndarray]) -> float | None:
    """Mean |cosine| between flattened kernels of equal shape from different layers."""
    by_shape: dict[tuple[int, ...], list[np.ndarray]] = {}
    for kernel in kernels:
        if kernel.ndim >= 2 and kernel.size >= 64:
            flat = kernel.reshape(-1)
            by_shape.setdefault(kernel.shape, []).append(flat / (np.linalg.norm(flat) + 1e-12))
    cosines = [
        abs(float(a @ b))
        for group in by_shape.values()
        for a, b in itertools.combinations(group, 2)
    ]
    return statistics.fmean(cosines) if cosines else None


def _node_similarity(states: np.ndarray) -> float:
    """Mean cosine between the states of two different nodes."""
    unit = states / (np.linalg.norm(states, axis=1, keepdims=True) + 1e-12)
    cosine = unit @ unit.T
    return float(cosine[~np.eye(len(states), dtype=bool)].mean())


def _common_mode(ghn, tensor) -> float:
    """|mean| / RMS deviation of the conv head's coefficients over one network's convs.

    Kernels are RMS-normalized, so only the coefficients' direction counts:
    a ratio well above 1 means every conv of the network gets about the
    same kernel mix, whatever its node.
    """
    from ghnq_tf._keras import tf
    from ghnq_tf.hypernet.ghn import decode_plan

    rows = decode_plan(tensor).kind_rows["conv"]
    states = tf.gather(ghn._param_states(tensor, True), rows)
    coefficients = ghn.decoder.heads["conv"](states).numpy()[:, :-1]  # the gain left out
    deviation = coefficients - coefficients.mean(axis=0)
    rms = np.sqrt(np.mean(np.sum(np.square(deviation), axis=1)))
    return float(np.linalg.norm(coefficients.mean(axis=0)) / rms)


def _binned(rows: list[tuple[float, str, float]]) -> list[float]:
    bins = [[] for _ in range(BINS)]
    for depth, _, rank in rows:
        bins[min(int(depth * BINS), BINS - 1)].append(rank)
    return [round(statistics.fmean(b), 3) if b else float("nan") for b in bins]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ghn", default="cifar10_float", help="a bundled name or a .keras path")
    parser.add_argument("--fresh-ghn", default=None, help="a config: its untrained GHN")
    parser.add_argument("--indices", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=500, help="held-out images measured")
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=None, help="default: depth_collapse_<ghn>")
    args = parser.parse_args(argv)

    import ghnq_tf as gq
    from ghnq_tf._keras import keras
    from ghnq_tf.evaluation.inputs import resolve_ghn

    use_threads(args.threads)
    start = time.process_time()
    if args.fresh_ghn:
        from ghnq_tf.training.config import load_config
        from ghnq_tf.training.run import initial_ghn

        keras.utils.set_random_seed(0)
        ghn, args.ghn = initial_ghn(load_config(args.fresh_ghn)), f"untrained:{args.fresh_ghn}"
    else:
        ghn = resolve_ghn(args.ghn, "ghn")
    x_cal, _ = _images(args.data, "train[:-2000]", 512)
    x_val, _ = _images(args.data, "train[-2000:]", args.images)
    specs = gq.search_space.split("test", max(args.indices) + 1)
    rows = []
    for index in args.indices:
        keras.utils.set_random_seed(index)
        model = gq.search_space.build(specs[index], input_shape=(32, 32, 3), num_classes=10)
        graph = gq.graph_from_keras(model)
        tensor = gq.graphs_to_tensor([graph], bits=args.bits, max_distance=ghn.max_distance)
        row = {
            "index": index,
            "node_similarity": _node_similarity(ghn.node_states(tensor).numpy()),
            "node_similarity_encoder": _node_similarity(
                ghn.node_states(tensor, message_passing=False).numpy()
            ),
            "coefficient_common_mode": _common_mode(ghn, tensor),
        }
        for start_name in starts(ghn, model, graph, args.bits, x_cal):
            layer_rows = _layer_ranks(model, x_val)
            kernels = [v.numpy() for v in model.trainable_variables if "kernel" in v.name]
            row[start_name] = {
                "rank_fraction_by_depth_fifth": _binned(layer_rows),
                "kernel_similarity": _kernel_similarity(kernels),
                "layers": len(layer_rows),
            }
        rows.append(row)
        print(row, flush=True)
    key = "rank_fraction_by_depth_fifth"
    means = {
        start_name: {
            key: [
                round(statistics.fmean(r[start_name][key][b] for r in rows), 3) for b in range(BINS)
            ],
            "kernel_similarity": round(
                statistics.fmean(r[start_name]["kernel_similarity"] for r in rows), 3
            ),
        }
        for start_name in ("random", "ghn")
    }
    for key in ("node_similarity", "node_similarity_encoder", "coefficient_common_mode"):
        means["ghn"][key] = round(statistics.fmean(r[key] for r in rows), 3)
    print("mean over networks:", means, f"({time.process_time() - start:.0f} CPU-s)")
    stem = "untrained_" + Path(args.fresh_ghn).stem if args.fresh_ghn else Path(args.ghn).stem
    name = args.output or f"depth_collapse_{stem}"
    save(name, {"ghn": args.ghn, "bits": args.bits, "mean": means, "per_arch": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
