"""Benchmark: does every architecture of a split build, convert and quantize?

For each architecture: `gq.search_space.build` (CIFAR-10 shapes),
`gq.graph_from_keras`, and `gq.quantize` at the given bits (one bitwidth is
enough: the wrapped structure does not depend on it). Records the failures
with their error, the time per step, and the two tfmot rewiring bugs
`gq.quantize` works around: how many architectures have a layer that
receives one tensor twice (what `test[32]` has), and how many tfmot's stock
N-bit layout would rewire (a `Concatenate` with its inputs swapped, as in
`test[3]`; `ghnq_tf.quant.layout`).

Run: `.venv/bin/python benchmarks/space_coverage.py --split test --stop 100`
(saves `benchmarks/results/space_coverage_test.json`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tensorflow_model_optimization as tfmot  # noqa: E402
from _common import save  # noqa: E402

import ghnq_tf as gq  # noqa: E402
from ghnq_tf._keras import keras  # noqa: E402
from ghnq_tf.quant.canonical import build_canonical, has_repeated_inputs  # noqa: E402
from ghnq_tf.quant.quantize_model import rewired_layers  # noqa: E402

_n_bit = tfmot.quantization.keras.experimental.default_n_bit


def _tfmot_rewires(model: keras.Model) -> bool:
    """Would tfmot's stock N-bit layout connect a layer to other inputs?

    Checked on the flat copy `gq.quantize` hands to tfmot (repeated inputs
    already pass through an Identity).
    """
    flat = build_canonical(model)[0]
    layout, _ = _n_bit.DefaultNBitQuantizeLayoutTransform(8, 8).apply(
        flat, {layer.name: {} for layer in flat.layers}
    )
    return bool(rewired_layers(flat, layout))


def _check(spec: object, bits: int) -> tuple[dict[str, float], bool, bool]:
    times = {}
    start = time.perf_counter()
    model = gq.search_space.build(spec, input_shape=(32, 32, 3), num_classes=10)
    times["build"] = time.perf_counter() - start
    start = time.perf_counter()
    gq.graph_from_keras(model)
    times["graph"] = time.perf_counter() - start
    start = time.perf_counter()
    gq.quantize(model, bits=bits)
    times["quantize"] = time.perf_counter() - start
    return times, has_repeated_inputs(model), _tfmot_rewires(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--stop", type=int, default=None)
    parser.add_argument("--bits", type=int, default=8)
    args = parser.parse_args()

    specs = gq.search_space.split(args.split)
    stop = len(specs) if args.stop is None else min(args.stop, len(specs))
    failures, repeated, rewired = {}, [], []
    totals = {"build": 0.0, "graph": 0.0, "quantize": 0.0}
    bar = keras.utils.Progbar(stop - args.start, unit_name="arch", stateful_metrics=["failed"])
    for index in range(args.start, stop):
        keras.backend.clear_session()
        try:
            times, has_repeats, tfmot_rewires = _check(specs[index], args.bits)
        except Exception as error:  # noqa: BLE001 - every failure is the measurement
            failures[str(index)] = f"{type(error).__name__}: {error}"[:500]
            print(f"\n{args.split}[{index}]: {failures[str(index)]}", flush=True)
        else:
            totals = {k: totals[k] + times[k] for k in totals}
            if has_repeats:
                repeated.append(index)
            if tfmot_rewires:
                rewired.append(index)
        bar.add(1, [("failed", len(failures))])

    checked = stop - args.start
    print(
        f"{args.split}[{args.start}:{stop}]: {checked - len(failures)}/{checked} quantize at "
        f"W{args.bits}A{args.bits}; {len(repeated)} have a repeated input "
        f"({repeated}); tfmot's stock layout rewires {len(rewired)} ({rewired}); mean s/arch: "
        + ", ".join(f"{k} {v / max(checked - len(failures), 1):.2f}" for k, v in totals.items())
    )
    for index, error in failures.items():
        print(f"  {args.split}[{index}]: {error}")
    save(
        f"space_coverage_{args.split}",
        {
            "command": "benchmarks/space_coverage.py " + " ".join(sys.argv[1:]),
            "split": args.split,
            "range": [args.start, stop],
            "bits": args.bits,
            "checked": checked,
            "quantized": checked - len(failures),
            "failures": failures,
            "repeated_input_archs": repeated,
            "tfmot_rewired_archs": rewired,
            "mean_seconds": {k: v / max(checked - len(failures), 1) for k, v in totals.items()},
        },
    )


if __name__ == "__main__":
    main()
