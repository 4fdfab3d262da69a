"""Example: describe a network as a graph, quantize it to 4 bits, calibrate,
export to TFLite and run it with LiteRT — on the embedded digits data.

Run: `.venv/bin/python examples/quantize_and_export.py`
(with a trained GHN: pass `--ghn runs/digits_w4a4/ghn_best.keras` to use
predicted parameters instead of random ones).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ghnq_tf as gq  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ghn", help="a trained GHN (.keras); default: random parameters")
    parser.add_argument("--bits", type=int, default=4)
    args = parser.parse_args()

    calibration = gq.data.load("digits", "train", batch_size=128, image_size=16, limit=512)
    test = gq.data.load("digits", "test", batch_size=360, image_size=16)
    images, labels = next(iter(test))

    model = gq.search_space.build(
        gq.search_space.split("test", 1)[0], input_shape=(16, 16, 3), num_classes=10
    )
    graph = gq.graph_from_keras(model)
    print(f"{model.name}: {graph.num_nodes} graph nodes, {len(graph.params)} parameter tensors")

    if args.ghn:
        qmodel = gq.predict(
            model, bits=args.bits, ghn=gq.GHN.load(args.ghn), calibration_data=calibration
        )
    else:
        qmodel = gq.calibrate(gq.quantize(model, bits=args.bits), calibration, steps=4)
    logits = qmodel(images, training=False)
    keras_top1 = float((logits.numpy().argmax(-1) == labels.numpy()).mean())

    path = f"model_w{args.bits}.tflite"
    tflite = gq.export_tflite(qmodel, representative_data=calibration, path=path)
    litert = gq.evaluate_tflite(tflite, (images.numpy(), labels.numpy()))
    print(
        f"W{args.bits}A{args.bits}: Keras fake-quant top-1 {keras_top1:.1%}, LiteRT top-1 "
        f"{litert['accuracy']:.1%}, TFLite {len(tflite) / 1024:.0f} KiB -> {path}"
    )


if __name__ == "__main__":
    main()
