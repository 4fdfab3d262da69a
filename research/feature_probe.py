"""Is the predicted classifier or are the predicted features what limits a GHN?

For each network, the pooled features (the classifier's input) of a float
network whose parameters are (a) the GHN's prediction, (b) Keras' random
initialization, are computed with batch norm calibrated on 512 training
images (its moving statistics := theirs, as `gq.calibrate` sets them). Then:

* `ghn_head`: the top-1 of the network as predicted (its own classifier);
* `probe`: the top-1 of a least-squares linear probe (ridge, one-hot
  targets) fit on the features of `--fit` images of `train[:-2000]`, scored
  on `--limit` held-out `train[-2000:]` images;
* `probe_raw`: the same probe on the raw features (no standardization),
  as the network's own classifier sees them;
* `tied_probe`: the raw probe with the weights of tiled feature copies
  tied (feature `i` shares its weights with `i mod channels`), as the
  decoder tiles a classifier wider than its maximal tensor;
* `family_probe` (the GHN's start only): the best least-squares classifier
  the GHN's decoder can express for this network: a mix of its `basis`
  classifier-bank matrices (sliced and tiled to `[features, classes]` as
  the decoder slices them; a dense kernel uses only the centre of the
  node's spatial coefficients, or every position's with `roll_pointwise`),
  plus a free bias;
* `effective_rank`: exp(entropy) of the normalized singular values of the
  centred held-out features, and `top1_share`: the first one's share of
  the variance.

If the predicted features probe far above the predicted classifier, the GHN
loses most in its classifier (and `family_probe` says whether the decoder
could express a better one); if they probe no better than random features,
the features are the limit. Float networks, no quantization; the GHN is
told `--bits` (4, what the screen's and `cifar10_float`'s training told it).

    .venv/bin/python research/feature_probe.py --ghn cifar10_float --split test --indices 0 1 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import save, use_threads  # noqa: E402

DATA = "image_folder:../shared/data/cifar10"
KEYS = ("head", "probe", "probe_raw", "tied_probe", "family_probe", "effective_rank", "top1_share")


def _images(data: str, split: str, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    import ghnq_tf as gq

    ds = gq.data.load(data, split, batch_size=count, augment=False, seed=seed)
    x, y = next(iter(ds))
    return x.numpy(), y.numpy().reshape(-1)


def _calibrate_batch_norm(model, x_cal: np.ndarray) -> None:
    """Moving statistics := the statistics of `x_cal`, with `gq.calibrate`'s BN patch."""
    from ghnq_tf._keras import keras
    from ghnq_tf.quant.calibration import batch_norm_momentum_zero, patched_attributes

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if norms:
        with patched_attributes(batch_norm_momentum_zero(norms)):
            model(x_cal, training=True)


def starts(ghn, model, graph, bits: int, x_cal: np.ndarray):
    """Sets `model` to Keras' initialization, then to the GHN's prediction.

    Yields "random", then "ghn", each time with batch norm calibrated on
    `x_cal`; the prediction is scaled as `gq.predict` scales it
    (`match_init_scale`).
    """
    from ghnq_tf.hypernet.init_scale import match_init_scale

    initial = model.get_weights()
    predicted = match_init_scale(model, graph, ghn.predict_params(graph, bits=bits)[0])
    for start_name in ("random", "ghn"):
        model.set_weights(initial)
        if start_name == "ghn":
            for param, value in zip(graph.params, predicted, strict=True):
                getattr(model.get_layer(param.layer[0]), param.attr).assign(value)
        _calibrate_batch_norm(model, x_cal)
        yield start_name


def _features(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classifier inputs, logits) in inference mode."""
    from ghnq_tf._keras import keras

    head = model.layers[-1]
    probe = keras.Model(model.inputs, [head.input, head.output])
    feats, logits = [], []
    for start in range(0, len(x), 250):
        f, z = probe(x[start : start + 250], training=False)
        feats.append(f.numpy().reshape(len(f), -1))
        logits.append(z.numpy())
    return np.concatenate(feats), np.concatenate(logits)


def _ridge_probe(f_fit, y_fit, f_val, y_val, reg: float = 1e-3, standardize=True) -> float:
    mean, std = f_fit.mean(0), f_fit.std(0) + 1e-8
    if not standardize:
        mean, std = np.zeros_like(mean), np.full_like(std, f_fit.std())
    a, b = (f_fit - mean) / std, (f_val - mean) / std
    a = np.hstack([a, np.ones((len(a), 1))])
    b = np.hstack([b, np.ones((len(b), 1))])
    targets = np.eye(10)[y_fit]
    gram = a.T @ a + reg * len(a) * np.eye(a.shape[1])
    weights = np.linalg.solve(gram, a.T @ targets)
    return float(np.mean(np.argmax(b @ weights, -1) == y_val))


def _tie(f: np.ndarray, channels: int) -> np.ndarray:
    """Features summed over their tiled copies (`i mod channels`)."""
    groups = np.arange(f.shape[1]) % channels
    return np.stack([f[:, groups == j].sum(1) for j in range(min(channels, f.shape[1]))], 1)


def _family_probe(bank: np.ndarray, f_fit, y_fit, f_val, y_val, positions: int = 0) -> float:
    """Least squares over classifiers Σ_b a_b · bank_b[tiled features, :classes] + bias.

    With `positions` (a `roll_pointwise` GHN's kernel_size²), the family is
    that of every position's bank rolled along the output channels.
    """
    if positions:
        bank = np.concatenate([np.roll(bank, -p, axis=2) for p in range(positions)])
    basis, channels, _ = bank.shape
    rows = np.arange(f_fit.shape[1]) % channels
    cols = np.arange(10) % channels
    matrices = bank[:, rows][:, :, cols]  # [basis, features, classes]

    def design(f: np.ndarray) -> np.ndarray:  # [images * classes, basis + classes]
        z = np.einsum("nf,bfk->nkb", f, matrices).reshape(-1, basis)
        bias = np.tile(np.eye(10), (len(f), 1))
        return np.hstack([z, bias])

    a = design(f_fit)
    targets = np.eye(10)[y_fit].reshape(-1)
    weights, *_ = np.linalg.lstsq(a, targets, rcond=None)
    logits = (design(f_val) @ weights).reshape(len(f_val), 10)
    return float(np.mean(np.argmax(logits, -1) == y_val))


def _spectrum(f: np.ndarray) -> tuple[float, float]:
    s = np.linalg.svd(f - f.mean(0), compute_uv=False) ** 2
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum())), float(p[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ghn", default="cifar10_float", help="a bundled name or a .keras path")
    parser.add_argument("--split", default="test")
    parser.add_argument("--indices", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fit", type=int, default=2000, help="images the probe is fit on")
    parser.add_argument("--limit", type=int, default=1000, help="held-out images scored")
    parser.add_argument(
        "--bits", type=int, default=4, help="bitwidth told to the GHN (the screen's: 4)"
    )
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=None, help="results name (default feature_probe_<ghn>)")
    args = parser.parse_args(argv)

    import ghnq_tf as gq
    from ghnq_tf._keras import keras
    from ghnq_tf.evaluation.inputs import resolve_ghn

    use_threads(args.threads)
    start = time.process_time()
    ghn = resolve_ghn(args.ghn, "ghn")
    x_fit, y_fit = _images(args.data, "train[:-2000]", args.fit)
    x_cal = x_fit[:512]
    x_val, y_val = _images(args.data, "train[-2000:]", args.limit)
    print(f"images loaded: {time.process_time() - start:.0f} CPU-s", flush=True)
    channels = ghn.decoder.channels
    specs = gq.search_space.split(args.split, max(args.indices) + 1)
    rows = []
    for index in args.indices:
        keras.utils.set_random_seed(index)
        model = gq.search_space.build(specs[index], input_shape=(32, 32, 3), num_classes=10)
        graph = gq.graph_from_keras(model)
        row = {"index": index, "bn": bool(specs[index].get("bn", True))}
        for start_name in starts(ghn, model, graph, args.bits, x_cal):
            f_fit, _ = _features(model, x_fit)
            f_val, logits = _features(model, x_val)
            rank, share = _spectrum(f_val)
            row[start_name] = {
                "head": float(np.mean(np.argmax(logits, -1) == y_val)),
                "probe": _ridge_probe(f_fit, y_fit, f_val, y_val),
                "probe_raw": _ridge_probe(f_fit, y_fit, f_val, y_val, standardize=False),
                "tied_probe": _ridge_probe(
                    _tie(f_fit, channels), y_fit, _tie(f_val, channels), y_val, standardize=False
                ),
                "effective_rank": rank,
                "top1_share": share,
                "features": int(f_val.shape[1]),
            }
            if start_name == "ghn":
                decoder = ghn.decoder
                bank = decoder.banks["classifier"].numpy()
                positions = decoder.kernel_size**2 if decoder.roll_pointwise else 0
                row[start_name]["family_probe"] = _family_probe(
                    bank, f_fit, y_fit, f_val, y_val, positions
                )
        rows.append(row)
        print(
            f"{args.split}[{index}] "
            + "  ".join(
                f"{k}: head {100 * row[k]['head']:.1f} probe {100 * row[k]['probe']:.1f} "
                f"raw {100 * row[k]['probe_raw']:.1f} tied {100 * row[k]['tied_probe']:.1f} "
                f"family {100 * row[k].get('family_probe', float('nan')):.1f} "
                f"rank {row[k]['effective_rank']:.1f}/{row[k]['features']} "
                f"top {row[k]['top1_share']:.2f}"
                for k in ("random", "ghn")
            ),
            flush=True,
        )
    mean = {
        start_name: {
            key: float(np.mean([row[start_name][key] for row in rows]))
            for key in KEYS
            if key in rows[0][start_name]
        }
        for start_name in ("random", "ghn")
    }
    print("mean", mean)
    save(
        args.output or f"feature_probe_{Path(args.ghn).stem}",
        {
            "ghn": args.ghn,
            "split": args.split,
            "bits_told": args.bits,
            "fit_images": args.fit,
            "held_out_images": args.limit,
            "rows": rows,
            "mean": mean,
            "cpu_minutes": (time.process_time() - start) / 60,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
