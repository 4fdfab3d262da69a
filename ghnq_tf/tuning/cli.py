"""The `ghnq-tf tune` command (wired into `ghnq_tf.cli`).

Importing this module loads neither TensorFlow nor Keras Tuner.
"""

from __future__ import annotations

import argparse
from typing import Any


def cmd_tune(args: argparse.Namespace) -> int:
    """Runs `ghnq-tf tune --config ... [--override k=v] [--overwrite]`."""
    from ghnq_tf.tuning.config import load_tune_config
    from ghnq_tf.tuning.run import tune

    config = load_tune_config(args.config, overrides=args.override)
    result = tune(config, overwrite=args.overwrite, verbose=1 if args.progress else 0)
    best = result["best"]
    values = ", ".join(f"{k}={v}" for k, v in best["values"].items() if not k.startswith("tuner/"))
    print(
        f"tuned {config.name}: {result['completed']} trials ({result['trials_run_now']} run now) "
        f"in {result['seconds']:.0f} s"
    )
    print(f"best: trial {best['trial_id']}, val_accuracy={best['score']:.4f} ({values})")
    for failed in result["failed"]:
        print(f"trial {failed['trial_id']} failed: {' '.join(failed['error'])}")
    print(f"best training config written to {result['best_config']}")
    print(f"train it: ghnq-tf train --config {result['best_config']}")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the `tune` sub-command to `ghnq-tf`'s sub-parsers."""
    parser = subparsers.add_parser(
        "tune", help="search GHN hyperparameters with Keras Tuner (resumable)"
    )
    parser.add_argument("--config", required=True, help="e.g. configs/tune_ghn.yaml")
    parser.add_argument(
        "--override",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="change a tune config value, e.g. tuner.max_trials=2; base.<key>=<value> "
        "changes the base training config (repeatable)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="start afresh instead of resuming the search"
    )
    parser.add_argument("--progress", action="store_true", help="show Keras Tuner's trial tables")
    parser.set_defaults(func=cmd_tune)
    return parser
