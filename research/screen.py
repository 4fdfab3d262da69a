"""The training-idea screen: one short, seeded GHN run, scored on held-out images.

Trains a GHN with `configs/screen.yaml` (the current recipe on a fixed
budget, pool and seed) plus the idea's `--override`s, then scores the last
checkpoint (never the best: the best is picked on these very networks) on
the first 10 `val` networks at W4A4 and W8A8 and the first 10 `zoo_val`
networks (the block family) at W4A4, on the 2,000 held-out *training*
images `train[-2000:]`, calibrated on `train[:-2000]` as `gq.evaluate`
calibrates. The test images stay unseen. The keep rule reads the `val`
W4A4; the `zoo_val` score says what an idea does to the other family.

It prints one line (idea, seed, W4A4, W8A8, minutes, CPU-minutes,
network-steps) and appends the full record to
`research/results/screen.jsonl`. A run resumes where it stopped.
`--score-only` scores a finished run's `zoo_val` networks again without
training (for records made before the `zoo_val` score existed).

    .venv/bin/python research/screen.py --idea baseline --seed 0
    .venv/bin/python research/screen.py --idea distill --seed 0 \
        --override training.distill.teacher=research/teachers/cifar10_resnet.keras

`--threads 1` pins TensorFlow to one core, so two seeds run side by side
on a 2-core machine. An idea is kept only when its two-seed mean beats the
baseline's by more than twice the baseline's two-seed spread
(`docs/screen.md`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import use_threads  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "research" / "results" / "screen.jsonl"
DATA = "image_folder:../shared/data/cifar10"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idea", required=True, help="a short name for what is screened")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--override", nargs="*", default=[], help="config key=value pairs")
    parser.add_argument("--config", default=str(ROOT / "configs" / "screen.yaml"))
    parser.add_argument("--data", default=DATA, help="scored images' dataset (gq.data name)")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow threads")
    parser.add_argument("--num-archs", type=int, default=10, help="`val` networks scored")
    parser.add_argument("--zoo-archs", type=int, default=10, help="`zoo_val` networks scored")
    parser.add_argument("--output-dir", default=None, help="default: runs/screen/IDEA_sSEED")
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="add the zoo_val score to the newest record of (idea, seed) without training",
    )
    args = parser.parse_args(argv)

    use_threads(args.threads)
    import ghnq_tf as gq
    from ghnq_tf.training.config import load_config
    from ghnq_tf.training.run import train

    config = load_config(args.config, [*args.override, f"training.seed={args.seed}"])
    out = Path(args.output_dir or ROOT / "runs" / "screen" / f"{args.idea}_s{args.seed}")
    config.output_dir = str(out)
    wall, cpu = time.perf_counter(), time.process_time()

    def score(split: str, num_archs: int, bits: tuple[int, ...]) -> dict:
        return gq.evaluate(
            str(out / "ghn_last.keras"),
            split=split,
            num_archs=num_archs,
            bits=bits,
            data=args.data,
            test_split="train[-2000:]",
            calibration_split="train[:-2000]",
            baselines=[],
            ghn_batch=num_archs,
            output_dir=out / ("score" if split == "val" else f"score_{split}"),
            progress=False,
        )["methods"]["ghn"]

    if args.score_only:
        record = _newest(args.idea, args.seed)
        zoo = score("zoo_val", args.zoo_archs, (4,))
        record.update(
            zoo_w4a4=zoo[4]["mean"],
            zoo_per_arch_w4a4=zoo[4]["per_arch"],
            zoo_cpu_minutes=(time.process_time() - cpu) / 60,
            rescored=time.strftime("%Y-%m-%d %H:%M"),
        )
        _append(record)
        print(f"screen idea={args.idea} seed={args.seed} zoo W4A4={100 * record['zoo_w4a4']:.1f}%")
        return 0

    train(config, verbose=2)
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    # A resumed run's training CPU is summed over its processes in metrics.json.
    epochs = json.loads((out / "metrics.json").read_text()).get("epochs", [])
    train_cpu = max(train_cpu, float(epochs[-1].get("cpu_seconds", 0.0)) if epochs else 0.0)
    score_cpu = time.process_time()
    val = score("val", args.num_archs, (4, 8))
    score_cpu = time.process_time() - score_cpu
    zoo_cpu = time.process_time()
    zoo = score("zoo_val", args.zoo_archs, (4,))
    zoo_cpu = time.process_time() - zoo_cpu
    t = config.training
    top1 = {b: val[b]["mean"] for b in (4, 8)}
    record = {
        "idea": args.idea,
        "seed": args.seed,
        "overrides": args.override,
        "w4a4": top1[4],
        "w8a8": top1[8],
        "per_arch_w4a4": val[4]["per_arch"],
        "zoo_w4a4": zoo[4]["mean"],
        "zoo_per_arch_w4a4": zoo[4]["per_arch"],
        "network_steps": t.epochs * t.steps_per_epoch * t.meta_batch,
        "train_minutes": train_wall / 60,
        "train_cpu_minutes": train_cpu / 60,
        "minutes": (time.perf_counter() - wall) / 60,
        # The CPU of training and the val score: the zoo_val score is reported
        # apart so ideas stay comparable with records made before it existed.
        "cpu_minutes": (train_cpu + score_cpu) / 60,
        "zoo_cpu_minutes": zoo_cpu / 60,
        "threads": args.threads,
        # From metrics.json, which spans resumes (a resumed process's own
        # history holds only the epochs it ran).
        "val_history": [e["val_accuracy"] for e in epochs if "val_accuracy" in e] or None,
        "train_history": [e["accuracy"] for e in epochs if "accuracy" in e] or None,
        "config": config.to_dict(),
        "command": " ".join(["research/screen.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    _append(record)
    print(
        f"screen idea={args.idea} seed={args.seed} W4A4={100 * top1[4]:.1f}% "
        f"W8A8={100 * top1[8]:.1f}% zoo_W4A4={100 * record['zoo_w4a4']:.1f}% "
        f"minutes={record['minutes']:.1f} cpu_minutes={record['cpu_minutes']:.1f} "
        f"network_steps={record['network_steps']}"
    )
    return 0


def _newest(idea: str, seed: int) -> dict:
    """The newest record of (idea, seed) in the results file."""
    found = None
    for line in RESULTS.read_text().splitlines() if RESULTS.exists() else []:
        if line.strip():
            record = json.loads(line)
            if record["idea"] == idea and record["seed"] == seed:
                found = record
    if found is None:
        raise SystemExit(f"No screen record of idea={idea!r} seed={seed} in {RESULTS}.")
    return found


def _append(record: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as log:
        log.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
