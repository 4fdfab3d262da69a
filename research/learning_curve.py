"""The learning curve of a GHN training run: top-1 against network-steps and CPU-hours.

Reads a run directory made by `ghnq-tf train` (`config.json`, `metrics.json`
with per-epoch `cpu_seconds`, and the `snapshots/ghn_epoch<N>.keras` kept by
`snapshot_epochs`). With `--score`, every snapshot not scored yet predicts
the first `--archs` `val` networks (and `zoo_val` networks) at each of
`--bits`, calibrated on `train[:-2000]` and scored on the held-out
`train[-2000:]` as `research/screen.py` scores; scores are kept in
`research/results/learning_curve_<run>.json`, so a rerun scores only new
snapshots. Then it plots, log-scaled, the run's own per-epoch validation
(float networks, batch statistics) and the snapshots' quantized scores
against network-steps and against CPU-hours, as a PNG.

    .venv/bin/python research/learning_curve.py --run runs/cifar10_long --score \\
        --output docs/learning_curve.png

`--bits-at EPOCH` scores W8A8 and W2A2 besides W4A4 only at those epochs
(they cost as much as W4A4 each).
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
RESULTS = ROOT / "research" / "results"
DATA = "image_folder:../shared/data/cifar10"


def _epoch_of(path: Path) -> int:
    return int(path.stem.removeprefix("ghn_epoch"))


def score_snapshots(run: Path, scores: dict, args: argparse.Namespace) -> None:
    """Scores the snapshots of `run` missing from `scores` (updated in place)."""
    import ghnq_tf as gq

    for path in sorted((run / "snapshots").glob("ghn_epoch*.keras"), key=_epoch_of):
        epoch = str(_epoch_of(path))
        bits = [4, 8, 2] if int(epoch) in args.bits_at else [4]
        done = scores.setdefault(epoch, {})
        for split, num in (("val", args.archs), ("zoo_val", args.zoo_archs)):
            missing = [b for b in bits if f"{split}_w{b}" not in done] if num else []
            if not missing:
                continue
            start = time.process_time()
            result = gq.evaluate(
                str(path),
                split=split,
                num_archs=num,
                bits=tuple(missing),
                data=args.data,
                test_split="train[-2000:]",
                calibration_split="train[:-2000]",
                baselines=[],
                ghn_batch=num,
                output_dir=RESULTS / f"learning_curve_{run.name}" / f"epoch{epoch}_{split}",
                progress=False,
            )["methods"]["ghn"]
            for b in missing:
                done[f"{split}_w{b}"] = result[b]["mean"]
            done[f"{split}_cpu_seconds"] = time.process_time() - start
            print(
                f"epoch {epoch} {split}: "
                + ", ".join(f"W{b}A{b} {100 * result[b]['mean']:.1f}%" for b in missing)
            )


def plot(run: Path, scores: dict, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = json.loads((run / "config.json").read_text())
    per_epoch = config["training"]["steps_per_epoch"] * config["training"]["meta_batch"]
    epochs = json.loads((run / "metrics.json").read_text())["epochs"]
    cpu_hours = {e["epoch"]: e.get("cpu_seconds", float("nan")) / 3600 for e in epochs}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, axis in zip(axes, ("network-steps", "CPU-hours"), strict=True):

        def x_of(epoch: int, axis: str = axis) -> float:
            return epoch * per_epoch if axis == "network-steps" else cpu_hours.get(epoch)

        ax.plot(
            [x_of(e["epoch"]) for e in epochs],
            [100 * e.get("val_accuracy", float("nan")) for e in epochs],
            color="0.6",
            lw=1,
            label="run's validation (float, batch statistics)",
        )
        marks = {
            "val_w4": ("C0", "o", "W4A4, val"),
            "val_w8": ("C1", "s", "W8A8, val"),
            "val_w2": ("C3", "v", "W2A2, val"),
            "zoo_val_w4": ("C2", "D", "W4A4, zoo_val"),
        }
        for key, (color, marker, label) in marks.items():
            points = [
                (x_of(int(e)), 100 * s[key])
                for e, s in scores.items()
                if key in s and int(e) in cpu_hours
            ]
            if points:
                points.sort()
                ax.plot(*zip(*points, strict=True), color=color, marker=marker, label=label)
        ax.set_xscale("log")
        ax.set_xlabel(axis + " (log)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("top-1 on 2,000 held-out training images (%)")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{run.name}: predicted parameters, first val / zoo_val networks")
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a `ghnq-tf train` output directory")
    parser.add_argument("--score", action="store_true", help="score new snapshots first")
    parser.add_argument("--archs", type=int, default=10, help="`val` networks scored")
    parser.add_argument("--zoo-archs", type=int, default=10, help="`zoo_val` networks scored")
    parser.add_argument(
        "--bits-at",
        type=int,
        nargs="*",
        default=[8, 32, 100],
        help="epochs also scored at W8A8 and W2A2",
    )
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow threads")
    parser.add_argument("--output", default=None, help="PNG (default: research/results/...)")
    args = parser.parse_args(argv)
    run = Path(args.run)
    if not (run / "metrics.json").is_file():
        parser.error(f"{run} has no metrics.json: pass a `ghnq-tf train` output directory.")
    use_threads(args.threads)
    store = RESULTS / f"learning_curve_{run.name}.json"
    scores = json.loads(store.read_text()) if store.is_file() else {}
    if args.score:
        score_snapshots(run, scores, args)
        from ghnq_tf._io import atomic_write_text

        atomic_write_text(store, json.dumps(scores, indent=2, sort_keys=True) + "\n")
    output = Path(args.output or RESULTS / f"learning_curve_{run.name}.png")
    plot(run, scores, output)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
