"""The training-idea screen: one short, seeded GHN run, scored on held-out images.

Trains a GHN with `configs/screen.yaml` (the current recipe on a fixed
budget, pool and seed) plus the idea's `--override`s, then scores the last
checkpoint (never the best: the best is picked on these very networks) on
the first 10 `val` networks at W4A4 and W8A8, on the 2,000 held-out
*training* images `train[-2000:]`, calibrated on `train[:-2000]` as
`gq.evaluate` calibrates. The test images stay unseen.

It prints one line (idea, seed, W4A4, W8A8, minutes, CPU-minutes,
network-steps) and appends the full record to
`research/results/screen.jsonl`. A run resumes where it stopped.

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
    parser.add_argument("--output-dir", default=None, help="default: runs/screen/IDEA_sSEED")
    args = parser.parse_args(argv)

    from ghnq_tf._keras import tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import ghnq_tf as gq
    from ghnq_tf.training.config import load_config
    from ghnq_tf.training.run import train

    config = load_config(args.config, [*args.override, f"training.seed={args.seed}"])
    out = Path(args.output_dir or ROOT / "runs" / "screen" / f"{args.idea}_s{args.seed}")
    config.output_dir = str(out)
    wall, cpu = time.perf_counter(), time.process_time()
    run = train(config, verbose=2)
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = gq.evaluate(
        str(out / "ghn_last.keras"),
        split="val",
        num_archs=args.num_archs,
        bits=(4, 8),
        data=args.data,
        test_split="train[-2000:]",
        calibration_split="train[:-2000]",
        baselines=[],
        ghn_batch=args.num_archs,
        output_dir=out / "score",
        progress=False,
    )
    t = config.training
    top1 = {b: result["methods"]["ghn"][b]["mean"] for b in (4, 8)}
    record = {
        "idea": args.idea,
        "seed": args.seed,
        "overrides": args.override,
        "w4a4": top1[4],
        "w8a8": top1[8],
        "per_arch_w4a4": result["methods"]["ghn"][4]["per_arch"],
        "network_steps": t.epochs * t.steps_per_epoch * t.meta_batch,
        "train_minutes": train_wall / 60,
        "train_cpu_minutes": train_cpu / 60,
        "minutes": (time.perf_counter() - wall) / 60,
        "cpu_minutes": (time.process_time() - cpu) / 60,
        "threads": args.threads,
        "val_history": run["history"].get("val_accuracy"),
        "train_history": run["history"].get("accuracy"),
        "config": config.to_dict(),
        "command": " ".join(["research/screen.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as log:
        log.write(json.dumps(record) + "\n")
    print(
        f"screen idea={args.idea} seed={args.seed} W4A4={100 * top1[4]:.1f}% "
        f"W8A8={100 * top1[8]:.1f}% minutes={record['minutes']:.1f} "
        f"cpu_minutes={record['cpu_minutes']:.1f} network_steps={record['network_steps']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
