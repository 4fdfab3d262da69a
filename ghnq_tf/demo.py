"""The embedded demo behind `make demo` / `ghnq-tf demo` (no download).

Takes architectures from the `test` split of the search space (never used for
training) and, on the embedded `digits` data, for 8, 4 and 2 bits: quantizes
each network with tfmot, gives it parameters — predicted by the bundled
`digits` GHN when one is bundled, and random (Keras defaults) for
comparison — calibrates it, and evaluates it, printing how long each GHN
prediction (parameters, injection, calibration) took. One network is exported
to TFLite and run with LiteRT. The last line says what to try next.
"""

from __future__ import annotations

import time
from typing import Any

from ghnq_tf._keras import keras

DEMO_GHN = "digits"
DEMO_SIDE = 16  # the digits GHN trains on 16×16 digits (configs/digits.yaml)
# The first two `test` networks with at most 100 graph nodes (92 each): each
# network costs `make demo` about 23 s (a wrap, six calibrations, seven
# evaluations), and two keep it within 90 s on a fresh clone.
DEMO_ARCHS = (0, 8)


def _table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _accuracy(qmodel: keras.Model, images: Any, labels: Any) -> float:
    logits = qmodel(images, training=False)
    return float(keras.metrics.sparse_categorical_accuracy(labels, logits).numpy().mean())


# Least-squares ranges, as the digits GHN trained with (`training.activation_ranges:
# mse`): with min/max ranges its 2-bit predictions score chance.
DEMO_RANGES = "mse"
CALIBRATION_IMAGES = 128
NEXT = (
    "next: python examples/cifar10.py --limit 2000  (predict, evaluate, fine-tune and "
    "export a CIFAR-10 network)"
)


def _export(name: str, qmodel: keras.Model, calibration: Any, images: Any, labels: Any) -> tuple:
    """Exports `qmodel` to TFLite and runs it with LiteRT (name, bytes, Keras top-1, LiteRT)."""
    import ghnq_tf as gq

    # The fake-quant ranges fix every tensor's scale: 16 representative images
    # give the same flatbuffer as the default 100 (measured on test[8]), sooner.
    tflite = gq.export_tflite(qmodel, representative_data=calibration, representative_samples=16)
    litert = gq.evaluate_tflite(tflite, (images.numpy(), labels.numpy()))
    return name, len(tflite), _accuracy(qmodel, images, labels), litert


def _bundled_ghn() -> Any:
    import ghnq_tf as gq

    try:
        return gq.GHN.from_pretrained(DEMO_GHN)
    except ValueError:
        return None


def _check_archs(archs: Any, size: int) -> tuple[int, ...]:
    archs = tuple(archs) if isinstance(archs, (list, tuple)) else (archs,)
    if not archs or any(not isinstance(i, int) or isinstance(i, bool) for i in archs):
        raise ValueError(
            f"`archs` must be a non-empty sequence of `test` network indices. "
            f"Received: archs={archs!r}"
        )
    wrong = [i for i in archs if not 0 <= i < size]
    if wrong:
        raise ValueError(
            f"`archs` must be indices of the `test` split, in 0..{size - 1}. "
            f"Received: archs={archs!r}"
        )
    return archs


def _demo_networks(archs: Any, seed: int) -> tuple[tuple[int, ...], list, list]:
    """(checked archs, their Keras models, their graphs), each model seeded.

    Architecture `i` is built under `keras.utils.set_random_seed(seed *
    1_000_003 + i)`, so its Keras initialization (the random-init column)
    repeats from run to run.
    """
    import ghnq_tf as gq

    test_split = gq.search_space.split("test")
    archs = _check_archs(archs, len(test_split))
    models, graphs = [], []
    for index in archs:
        keras.utils.set_random_seed(seed * 1_000_003 + index)
        spec = test_split[index]
        models.append(
            gq.search_space.build(spec, input_shape=(DEMO_SIDE, DEMO_SIDE, 3), num_classes=10)
        )
        graphs.append(gq.graph_from_keras(models[-1]))
    return archs, models, graphs


def run_demo(
    *, archs: tuple[int, ...] = DEMO_ARCHS, bits: tuple[int, ...] = (8, 4, 2), seed: int = 0
) -> dict[str, Any]:
    """Runs the demo and prints what it did; returns the figures it printed.

    Args:
        archs: indices of the `test` networks to show (the default: the first
            two with at most 100 graph nodes, which keeps `make demo` short:
            tfmot's wrap, eager calibration and TFLite conversion all take
            time in proportion to the layers).
        bits: the bitwidths, each for weights and activations.
        seed: architecture `i` is built under
            `keras.utils.set_random_seed(seed * 1_000_003 + i)`, as `gq.evaluate`
            does, so the random-init column repeats from run to run. The global
            seeds are left changed.

    Raises:
        ValueError: when `archs` holds anything but indices of the `test` split.

    Example:
        run_demo(archs=(0,), bits=(8, 2))
    """
    import ghnq_tf as gq
    from ghnq_tf.quant.calibration import Calibrator
    from ghnq_tf.quant.retarget import retarget
    from ghnq_tf.quant.variables import inject, target_list

    start = time.perf_counter()
    archs, models, graphs = _demo_networks(archs, seed)  # checks `archs` first
    test = gq.data.load("digits", "test", batch_size=360, image_size=DEMO_SIDE)
    images, labels = next(iter(test))
    # The same class-mixed training digits, one batch, for every calibration:
    # at 4 bits the activation ranges (and top-1) depend on which images set them.
    calibration = gq.data.load(
        "digits",
        "train",
        batch_size=CALIBRATION_IMAGES,
        image_size=DEMO_SIDE,
        limit=CALIBRATION_IMAGES,
        shuffle=False,
    )
    ghn = _bundled_ghn()
    print(
        f"data: embedded digits ({DEMO_SIDE}x{DEMO_SIDE}), {int(images.shape[0])} test images; "
        + (f"GHN: bundled '{DEMO_GHN}'" if ghn else "no bundled GHN yet: random init only")
    )
    # The smallest network is exported: the converter's time grows with its size.
    export_at = min(
        range(len(models)), key=lambda i: (graphs[i].num_nodes, models[i].count_params())
    )
    rows, shown, prediction_seconds, exported = [], [], [], None
    for position, (index, model, graph) in enumerate(zip(archs, models, graphs, strict=True)):
        row: list[Any] = [f"test[{index}]", f"{model.count_params():,}", graph.num_nodes]
        shown_row = list(row)  # the printed cells also say how long each prediction took
        # One tfmot wrap per network, re-targeted to each bitwidth. Each
        # calibration is two eager passes over one batch: tracing them would
        # cost more than it saves over the two calibrations per bitwidth.
        qmodel = gq.quantize(model, bits=bits[0])
        initial, calibrator = qmodel.get_weights(), Calibrator(qmodel, traced=False)
        for b in bits:
            retarget(qmodel, bits=b)
            qmodel.set_weights(initial)
            calibrator.calibrate(calibration, steps=1, ranges=DEMO_RANGES)
            row.append(f"{_accuracy(qmodel, images, labels):.1%}")
            shown_row.append(row[-1])
            if ghn is not None:
                predict_start = time.perf_counter()
                inject(target_list(qmodel, model, graph), ghn.predict_params(graph, bits=b)[0])
                calibrator.calibrate(calibration, steps=1, ranges=DEMO_RANGES)
                seconds = time.perf_counter() - predict_start
                row[-1] = f"{row[-1]} / {_accuracy(qmodel, images, labels):.1%}"
                shown_row[len(row) - 1] = f"{row[-1]} ({seconds:.1f} s)"
                prediction_seconds.append(seconds)
            if exported is None and position == export_at:
                exported = _export(f"test[{index}] W{b}A{b}", qmodel, calibration, images, labels)
        rows.append(row)
        shown.append(shown_row)
    method = "random / GHN (seconds to predict and calibrate)" if ghn else "random init"
    print(f"\ntop-1 on digits after quantization and calibration ({method}):")
    print(_table(["arch", "params", "nodes", *[f"W{b}A{b}" for b in bits]], shown))
    name, size, keras_accuracy, litert = exported
    print(
        f"\nexported {name} to TFLite ({size / 1024:.0f} KiB), LiteRT top-1 "
        f"{litert['accuracy']:.1%} (Keras fake-quant {keras_accuracy:.1%})"
    )
    elapsed = time.perf_counter() - start
    print(f"done in {elapsed:.0f} s")
    print(NEXT)
    return {
        "rows": rows,
        "prediction_seconds": prediction_seconds,
        "litert": litert,
        "seconds": elapsed,
        "ghn": ghn is not None,
    }
