"""Benchmark: predicted parameters as a starting point for QAT fine-tuning.

For the first `--archs` architectures of the `test` split at W`b`A`b`, fine-tune
with plain `model.fit` (Adam `--lr`, or `--optimizer sgd`: SGD with momentum
0.9; batch 64, augmented training images, the same data order for both
starts) from

* the GHN's predicted parameters, calibrated on 8 training batches, and
* Keras' random initialization, calibrated the same way,

and report test top-1 after 0 steps and after each of `--steps`. The
target: from prediction, 100 steps reach at least what random
initialization reaches in 500.

Run: `.venv/bin/python benchmarks/finetune.py --ghn cifar10 --data cifar10
--max-macs 60e6` (the `test` networks of at most 60 M MACs, about a quarter
of the split: the largest take about 4x as long per step; with no argument,
as `make bench` runs it, this is what runs). `--data cifar10` reads the
local image folder when it exists (`_common.local_data`).
`--ghn digits --data digits --image-size 16 --archs 2 --steps 100 300 500`
runs in minutes with no download; it is also what runs when no `cifar10`
GHN is installed.
Results: `benchmarks/results/finetune_<data>.json`, saved after every
architecture; the same command resumes a stopped run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from _common import local_data, save

STARTS = ("predicted", "random")
_OPTIMIZERS = {"adam": "Adam", "sgd": "SGD (momentum 0.9)"}


def _train(name: str, image_size: int | None, seed: int):
    """Augmented training batches, the same order for every call."""
    import ghnq_tf as gq

    augment = not name.startswith("digits")
    load = {"image_size": image_size, "seed": seed}
    return gq.data.load(name, "train", batch_size=64, augment=augment, **load).repeat()


def _optimizer(name: str, lr: float):
    from ghnq_tf._keras import keras

    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9)
    return keras.optimizers.Adam(lr)


def _curve(qmodel, train, test, steps: list[int], optimizer) -> dict[int, float]:
    from ghnq_tf._keras import keras

    qmodel.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    curve = {0: float(qmodel.evaluate(test, verbose=0)[1])}
    done, iterator = 0, iter(train)
    for target in steps:
        qmodel.fit(iterator, steps_per_epoch=target - done, epochs=1, verbose=0)
        done = target
        curve[target] = float(qmodel.evaluate(test, verbose=0)[1])
        print(f"    step {target:5d}: {curve[target]:.1%}", flush=True)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ghn", help="bundled name or .keras path (default: cifar10, else the digits setup)"
    )
    parser.add_argument("--data", default="cifar10")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--archs", type=int, default=5)
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 300, 500, 1000])
    parser.add_argument("--optimizer", choices=list(_OPTIMIZERS), default="adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--no-init-scale",
        action="store_true",
        help="keep the GHN's kernel scale: gq.predict(match_init_scale=False)",
    )
    parser.add_argument(
        "--max-macs",
        type=float,
        default=None,
        help="only `test` networks within this many MACs (default: the first --archs)",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N test images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="results name (default finetune_<data>)")
    args = parser.parse_args()

    import ghnq_tf as gq
    from ghnq_tf._keras import keras
    from ghnq_tf.hypernet.checkpoint import pretrained_manifests

    if args.ghn is None:  # `make bench`: the bundled CIFAR-10 GHN, else the embedded digits one
        args.ghn = "cifar10" if "cifar10" in pretrained_manifests() else "digits"
        if args.ghn == "digits":
            args.data, args.image_size, args.archs, args.steps = "digits", 16, 2, [100, 300, 500]
            print("no bundled cifar10 GHN: running the embedded digits setup", flush=True)
        elif args.max_macs is None:  # the networks a 2-core CPU fine-tunes in hours, not days
            args.max_macs = 60e6
    steps = sorted(set(args.steps))
    load = gq.GHN.load if args.ghn.endswith(".keras") else gq.GHN.from_pretrained
    ghn = load(args.ghn)
    name, size = local_data(args.data), args.image_size
    calibration = gq.data.load(name, "train", batch_size=64, image_size=size, seed=args.seed)
    test = gq.data.load(name, "test", batch_size=500, image_size=size, limit=args.limit)
    info = gq.data.info(name)
    shape = info["image_shape"] if size is None else (size, size, 3)
    command = " ".join([".venv/bin/python benchmarks/finetune.py", *sys.argv[1:]])
    output = args.output or f"finetune_{args.data.split(':')[0]}"
    setup = {"ghn": args.ghn, "data": name, "bits": args.bits, "steps": steps, "lr": args.lr}
    setup.update(limit=args.limit, seed=args.seed, max_macs=args.max_macs)
    setup["match_init_scale"] = not args.no_init_scale  # (absent: runs made before it existed)
    if args.optimizer != "adam":  # (runs saved before `--optimizer` existed used Adam)
        setup["optimizer"] = args.optimizer
    results = _done(output, setup)
    for number, (index, spec) in enumerate(_archs(args.archs, args.max_macs, shape)):
        if number < len(results):
            print(f"test[{index}]: kept from the saved results", flush=True)
            continue
        row = {"arch": f"test[{index}]", "macs": gq.search_space.macs(spec, input_shape=shape)}
        for start in STARTS:
            keras.utils.set_random_seed(args.seed)  # same random init and data order
            train = _train(name, size, args.seed)
            model = gq.search_space.build(spec, input_shape=shape, num_classes=info["num_classes"])
            clock = time.perf_counter()
            if start == "predicted":
                qmodel = gq.predict(
                    model,
                    bits=args.bits,
                    ghn=ghn,
                    calibration_data=calibration,
                    match_init_scale=not args.no_init_scale,
                )
            else:
                qmodel = gq.calibrate(gq.quantize(model, bits=args.bits), calibration, steps=8)
            print(f"{row['arch']} from {start}:", flush=True)
            optimizer = _optimizer(args.optimizer, args.lr)
            row[start] = _curve(qmodel, train, test, steps, optimizer)
            row[f"{start}_seconds"] = round(time.perf_counter() - clock, 1)
        results.append(row)
        # Saved after every architecture: a stopped run resumes from here.
        save(output, _figures(command, setup, results, steps))
    _print_summary(_figures(command, setup, results, steps))


def _archs(count: int, max_macs: float | None, shape: tuple) -> list[tuple[int, dict]]:
    """(split index, spec) of the first `count` `test` networks within `max_macs`."""
    import ghnq_tf as gq

    specs = gq.search_space.split("test")
    chosen = [
        (index, spec)
        for index, spec in enumerate(specs)
        if max_macs is None or gq.search_space.macs(spec, input_shape=shape) <= max_macs
    ]
    return chosen[:count]


def _done(output: str, setup: dict) -> list[dict]:
    """Per-architecture rows already saved under `output` by a run set up alike."""
    from _common import RESULTS

    path = RESULTS / f"{output}.json"
    if not path.exists():
        return []
    saved = json.loads(path.read_text())
    if saved.get("setup") != setup:
        print(f"{path.name} was made with other settings: starting over", flush=True)
        return []
    return [
        {**r, **{k: {int(s): v for s, v in r[k].items()} for k in STARTS}}
        for r in saved["per_arch"]
    ]


def _figures(command: str, setup: dict, results: list[dict], steps: list[int]) -> dict:
    def mean(start: str, step: int) -> float:
        return statistics.fmean(r[start][step] for r in results)

    summary = {
        start: {step: round(mean(start, step), 4) for step in [0, *steps]} for start in STARTS
    }
    figures = {
        "command": command,
        "setup": setup,
        "archs_done": len(results),
        "optimizer": f"{_OPTIMIZERS[setup.get('optimizer', 'adam')]} {setup['lr']}, batch 64, "
        "augmented training images",
        "summary": summary,
        "per_arch": results,
    }
    if 100 in steps and 500 in steps:
        figures["target_met"] = summary["predicted"][100] >= summary["random"][500]
    return figures


def _print_summary(figures: dict) -> None:
    summary = figures["summary"]
    steps = list(summary["predicted"])
    print(f"\nmean test top-1 by fine-tuning step ({figures['archs_done']} architectures):")
    print(" start     | " + " | ".join(f"{s:>6d}" for s in steps))
    for start, curve in summary.items():
        print(f" {start:9s} | " + " | ".join(f"{v:6.1%}" for v in curve.values()))
    if "target_met" in figures:
        print(f"predicted@100 >= random@500: {figures['target_met']}")


if __name__ == "__main__":
    main()
