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


def _optimizer(name: str, lr: float, warmup: int = 0):
    """Adam (or SGD with momentum 0.9) at `lr`, reached linearly over `warmup` steps."""
    from ghnq_tf._keras import keras

    rate = lr
    if warmup:  # linear from lr / warmup to lr, then constant
        rate = keras.optimizers.schedules.PolynomialDecay(lr / warmup, warmup, lr, power=1.0)
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9)
    return keras.optimizers.Adam(rate)


def _curve(qmodel, train, test, steps: list[int], optimizer, probe: int = 0, probe_optimizer=None):
    """Test top-1 after 0 and each of `steps` `model.fit` steps.

    With `probe`, the first `probe` steps train only the classifier (the last
    layer; batch normalization then keeps its calibrated statistics) with
    `probe_optimizer`, the rest everything with `optimizer`.
    """
    from ghnq_tf._keras import keras

    def compile_with(opt):
        qmodel.compile(
            optimizer=opt,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )

    if probe:
        for layer in qmodel.layers[:-1]:
            layer.trainable = False
    compile_with(probe_optimizer if probe else optimizer)
    curve = {0: float(qmodel.evaluate(test, verbose=0)[1])}
    done, iterator = 0, iter(train)
    for boundary in sorted({*steps, *([probe] if probe else [])}):
        qmodel.fit(iterator, steps_per_epoch=boundary - done, epochs=1, verbose=0)
        done = boundary
        if boundary == probe:
            for layer in qmodel.layers:
                layer.trainable = True
            compile_with(optimizer)
        if boundary in steps:
            curve[boundary] = float(qmodel.evaluate(test, verbose=0)[1])
            print(f"    step {boundary:5d}: {curve[boundary]:.1%}", flush=True)
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
    parser.add_argument("--warmup", type=int, default=0, help="linear warm-up steps")
    parser.add_argument(
        "--random-lr", type=float, default=None, help="rate from random init (default: --lr)"
    )
    parser.add_argument(
        "--random-warmup", type=int, default=None, help="warm-up from random (default: --warmup)"
    )
    parser.add_argument(
        "--tiling-noise", type=float, default=0.0, help="gq.predict(tiling_noise=...)"
    )
    parser.add_argument(
        "--orthogonalize", action="store_true", help="gq.predict(orthogonalize=True)"
    )
    parser.add_argument(
        "--probe", type=int, default=0, help="first N steps train only the classifier (predicted)"
    )
    parser.add_argument("--random-probe", type=int, default=None, help="(default: --probe)")
    parser.add_argument("--zoo", type=int, default=0, help="also the first N `zoo` networks")
    parser.add_argument(
        "--test-indices", type=int, nargs="+", default=None, help="these `test` networks instead"
    )
    parser.add_argument(
        "--zoo-indices", type=int, nargs="+", default=None, help="these `zoo` networks instead"
    )
    parser.add_argument(
        "--holdout",
        action="store_true",
        help="fine-tune on train[:-2000] and score on train[-2000:] (to choose a recipe)",
    )
    parser.add_argument("--starts", nargs="+", choices=STARTS, default=list(STARTS))
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
    fit_split, score_split = (
        ("train[:-2000]", "train[-2000:]") if args.holdout else ("train", "test")
    )
    calibration = gq.data.load(name, fit_split, batch_size=64, image_size=size, seed=args.seed)
    test = gq.data.load(name, score_split, batch_size=500, image_size=size, limit=args.limit)
    recipes = {
        "predicted": {"lr": args.lr, "warmup": args.warmup, "probe": args.probe},
        "random": {
            "lr": args.lr if args.random_lr is None else args.random_lr,
            "warmup": args.warmup if args.random_warmup is None else args.random_warmup,
            "probe": args.probe if args.random_probe is None else args.random_probe,
        },
    }
    info = gq.data.info(name)
    shape = info["image_shape"] if size is None else (size, size, 3)
    command = " ".join([".venv/bin/python benchmarks/finetune.py", *sys.argv[1:]])
    output = args.output or f"finetune_{args.data.split(':')[0]}"
    setup = {"ghn": args.ghn, "data": name, "bits": args.bits, "steps": steps, "lr": args.lr}
    setup.update(limit=args.limit, seed=args.seed, max_macs=args.max_macs)
    setup["match_init_scale"] = not args.no_init_scale  # (absent: runs made before it existed)
    if args.optimizer != "adam":  # (runs saved before `--optimizer` existed used Adam)
        setup["optimizer"] = args.optimizer
    # Settings added later are recorded only when used: earlier results still resume.
    extra = {"warmup": args.warmup, "probe": args.probe, "tiling_noise": args.tiling_noise}
    extra.update(orthogonalize=args.orthogonalize, zoo=args.zoo, holdout=args.holdout)
    extra.update(test_indices=args.test_indices, zoo_indices=args.zoo_indices)
    setup.update({k: v for k, v in extra.items() if v})
    if recipes["random"] != recipes["predicted"]:
        setup["random_recipe"] = recipes["random"]
    if args.starts != list(STARTS):
        setup["starts"] = args.starts
    results = _done(output, setup)
    for number, (arch, spec) in enumerate(
        _archs(args.archs, args.max_macs, shape, args.zoo, args.test_indices, args.zoo_indices)
    ):
        if number < len(results):
            print(f"{arch}: kept from the saved results", flush=True)
            continue
        row = {"arch": arch, "macs": gq.search_space.macs(spec, input_shape=shape)}
        for start in args.starts:
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
                    tiling_noise=args.tiling_noise,
                    orthogonalize=args.orthogonalize,
                    seed=args.seed,
                )
            else:
                qmodel = gq.calibrate(gq.quantize(model, bits=args.bits), calibration, steps=8)
            print(f"{row['arch']} from {start}:", flush=True)
            recipe = recipes[start]
            optimizer = _optimizer(args.optimizer, recipe["lr"], recipe["warmup"])
            probe_optimizer = _optimizer(args.optimizer, recipe["lr"])
            row[start] = _curve(
                qmodel, train, test, steps, optimizer, recipe["probe"], probe_optimizer
            )
            row[f"{start}_seconds"] = round(time.perf_counter() - clock, 1)
        results.append(row)
        # Saved after every architecture: a stopped run resumes from here.
        save(output, _figures(command, setup, results, steps, args.starts))
    _print_summary(_figures(command, setup, results, steps, args.starts))


def _archs(
    count: int,
    max_macs: float | None,
    shape: tuple,
    zoo: int = 0,
    indices: list | None = None,
    zoo_indices: list | None = None,
) -> list[tuple[str, dict]]:
    """(name, spec) of the `test` networks (`indices`, else the first `count` within
    `max_macs`), then the `zoo` ones (`zoo_indices`, else the first `zoo`)."""
    import ghnq_tf as gq

    specs = gq.search_space.split("test")
    if indices is not None:
        chosen = [(f"test[{index}]", specs[index]) for index in indices]
    else:
        chosen = [
            (f"test[{index}]", spec)
            for index, spec in enumerate(specs)
            if max_macs is None or gq.search_space.macs(spec, input_shape=shape) <= max_macs
        ][:count]
    if zoo_indices is not None:
        zoo_specs = gq.search_space.split("zoo", max(zoo_indices) + 1)
        chosen += [(f"zoo[{i}]", zoo_specs[i]) for i in zoo_indices]
    elif zoo:
        chosen += [(f"zoo[{i}]", spec) for i, spec in enumerate(gq.search_space.split("zoo", zoo))]
    return chosen


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
        {**r, **{k: {int(s): v for s, v in r[k].items()} for k in STARTS if k in r}}
        for r in saved["per_arch"]
    ]


def _figures(
    command: str, setup: dict, results: list[dict], steps: list[int], starts=STARTS
) -> dict:
    def mean(start: str, step: int) -> float:
        return statistics.fmean(r[start][step] for r in results)

    summary = {
        start: {step: round(mean(start, step), 4) for step in [0, *steps]} for start in starts
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
    if 100 in steps and 300 in steps and set(STARTS) <= set(summary):
        pred, rand = summary["predicted"], summary["random"]
        figures["target_met"] = pred[100] >= rand[300] and all(
            pred[s] > rand[s] for s in steps if s in (100, 300, 1000)
        )
    return figures


def _print_summary(figures: dict) -> None:
    summary = figures["summary"]
    steps = list(summary["predicted"])
    print(f"\nmean test top-1 by fine-tuning step ({figures['archs_done']} architectures):")
    print(" start     | " + " | ".join(f"{s:>6d}" for s in steps))
    for start, curve in summary.items():
        print(f" {start:9s} | " + " | ".join(f"{v:6.1%}" for v in curve.values()))
    if "target_met" in figures:
        print(f"predicted ahead at 100/300/1000 and @100 >= random@300: {figures['target_met']}")


if __name__ == "__main__":
    main()
