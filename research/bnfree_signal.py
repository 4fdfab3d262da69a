"""Research: where the input's signal goes in GHN-predicted networks, with and without BN.

Every batch-norm-free `test` network the bundled `cifar10` GHN predicts
scores exactly chance (`research/README.md`). This probe follows the
*signal* — the part of each activation that depends on the image, measured
as the per-unit standard deviation over test images, averaged over units —
from the stem to the logits of a float network holding the predicted
parameters (as `gq.predict` makes them, before quantization; batch-norm
statistics set on 128 training images), and checks
whether rescaling the kernels brings the accuracy back:

* `predicted`: the GHN's parameters (`match_init_scale` applied, as in
  `gq.predict`);
* `kernels_x2`: every hidden linear layer's kernel doubled (a separable
  convolution's depthwise one): more than the √2 per layer that separates
  the decoder's fan-in scale from He's;
* `lsuv`: in topological order, each hidden kernel scaled so that its
  output's signal equals its input's (LSUV-style, on 128 training images);
* `lsuv_no_classifier_bias`: the same with the classifier's bias zeroed.

Batch-norm statistics are re-set after each rescaling; inside the LSUV pass
they are the predicted network's, so `lsuv` means little for a network with
batch norm (whose kernels' scale it divides out anyway).

Run: `.venv/bin/python research/bnfree_signal.py --indices 23 50 0`
(saves `research/results/bnfree_signal.json`, or `--output NAME`; `test[0]`
has batch norm, as a control). `--fresh-ghn configs/cifar10_float.yaml`
probes an untrained GHN instead of a bundled one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import save  # noqa: E402

import ghnq_tf as gq  # noqa: E402
from ghnq_tf._keras import keras, tf  # noqa: E402
from ghnq_tf.evaluation.inputs import resolve_ghn  # noqa: E402
from ghnq_tf.hypernet.init_scale import match_init_scale  # noqa: E402

_L = keras.layers
_LINEAR = (_L.Conv2D, _L.DepthwiseConv2D, _L.SeparableConv2D, _L.Dense)
DATA = "image_folder:../shared/data/cifar10"


def _first_kernel(layer: keras.layers.Layer) -> tf.Variable:
    if isinstance(layer, (_L.SeparableConv2D, _L.DepthwiseConv2D)):
        return layer.depthwise_kernel
    return layer.kernel


def _signal(values: tf.Tensor) -> float:
    return float(tf.reduce_mean(tf.math.reduce_std(values, axis=0)))


def _top1(model: keras.Model, x: tf.Tensor, y: np.ndarray) -> dict[str, float]:
    predicted = np.argmax(model(x, training=False).numpy(), -1)
    share = np.bincount(predicted, minlength=10).max() / len(y)
    return {"top1": float(np.mean(predicted == y)), "commonest_prediction_share": float(share)}


def _signal_path(model: keras.Model, x: tf.Tensor) -> dict[str, float]:
    names = [layer.name for layer in model.layers if layer.name.endswith(("concat", "stem.conv"))]
    names += [model.layers[-2].name, model.layers[-1].name]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    return {n: _signal(v) for n, v in zip(names, probe(x, training=False), strict=True)}


def _calibrate_batch_norm(model: keras.Model, x_cal: tf.Tensor) -> None:
    """Moving statistics := the statistics of `x_cal` (what `gq.calibrate` sets)."""
    norms = [layer for layer in model.layers if isinstance(layer, _L.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    if norms:
        model(x_cal, training=True)


def _lsuv(model: keras.Model, hidden: list[keras.layers.Layer], x_cal: tf.Tensor) -> None:
    for layer in hidden:
        inputs, outputs = keras.Model(model.inputs, [layer.input, layer.output])(x_cal)
        ratio = _signal(inputs) / max(_signal(outputs), 1e-30)
        kernel = _first_kernel(layer)
        kernel.assign(kernel * ratio)


def probe(ghn: gq.GHN, index: int, x: tf.Tensor, y: np.ndarray, x_cal: tf.Tensor) -> dict:
    spec = gq.search_space.split("test", index + 1)[index]
    keras.utils.set_random_seed(index)
    model = gq.search_space.build(spec, input_shape=(32, 32, 3), num_classes=10)
    graph = gq.graph_from_keras(model)
    predicted = match_init_scale(model, graph, ghn.predict_params(graph, bits=8)[0])
    variables = [getattr(model.get_layer(p.layer[0]), p.attr) for p in graph.params]

    def load() -> None:
        for variable, value in zip(variables, predicted, strict=True):
            variable.assign(value)

    classifier = model.layers[-1]
    hidden = [layer for layer in model.layers[:-1] if isinstance(layer, _LINEAR)]
    load()
    _calibrate_batch_norm(model, x_cal)
    result = {"bn": bool(spec["bn"]), "signal": _signal_path(model, x)}
    result["predicted"] = _top1(model, x, y)
    result["classifier_kernel_rms"] = float(np.sqrt(np.mean(classifier.kernel.numpy() ** 2)))
    result["classifier_bias_spread"] = float(np.ptp(classifier.bias.numpy()))
    for layer in hidden:
        _first_kernel(layer).assign(_first_kernel(layer) * 2.0)
    _calibrate_batch_norm(model, x_cal)
    result["kernels_x2"] = {**_top1(model, x, y), "signal": _signal_path(model, x)}
    load()
    _lsuv(model, hidden, x_cal)
    _calibrate_batch_norm(model, x_cal)
    result["lsuv"] = {**_top1(model, x, y), "signal": _signal_path(model, x)}
    classifier.bias.assign(tf.zeros_like(classifier.bias))
    result["lsuv_no_classifier_bias"] = _top1(model, x, y)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indices", type=int, nargs="+", default=[23, 50, 0])
    parser.add_argument("--images", type=int, default=1000, help="test images")
    parser.add_argument("--ghn", default="cifar10", help="a bundled name or a .keras path")
    parser.add_argument(
        "--fresh-ghn",
        metavar="CONFIG",
        help="instead: an untrained GHN built from this training config (seed 0)",
    )
    parser.add_argument("--output", default="bnfree_signal", help="results/<output>.json")
    args = parser.parse_args()

    x, y = next(iter(gq.data.load(DATA, "test", batch_size=args.images, limit=args.images)))
    x_cal = next(iter(gq.data.load(DATA, "train", batch_size=128, shuffle=True, seed=0)))[0]
    if args.fresh_ghn:
        from ghnq_tf.training.config import load_config
        from ghnq_tf.training.run import initial_ghn

        keras.utils.set_random_seed(0)
        ghn, source = initial_ghn(load_config(args.fresh_ghn)), f"untrained: {args.fresh_ghn}"
    else:
        ghn, source = resolve_ghn(args.ghn, "ghn"), args.ghn
    results = {}
    for index in args.indices:
        keras.backend.clear_session()
        found = results[f"test[{index}]"] = probe(ghn, index, x, y.numpy(), x_cal)
        head = list(found["signal"].values())
        print(
            f"test[{index}] bn={found['bn']}: signal stem {head[0]:.1e} -> logits {head[-1]:.1e};"
            f" top-1 predicted {found['predicted']['top1']:.3f},"
            f" x2 {found['kernels_x2']['top1']:.3f}, lsuv {found['lsuv']['top1']:.3f},"
            f" lsuv without classifier bias {found['lsuv_no_classifier_bias']['top1']:.3f}"
        )
    save(
        args.output,
        {"ghn": source, "test_images": args.images, "data": DATA, "networks": results},
    )


if __name__ == "__main__":
    main()
