"""`ghnq-tf evaluate`: the command-line face of `gq.evaluate`.

Example:
    $ ghnq-tf evaluate --ghn cifar10 --float-ghn cifar10_float --split test \\
        --bits 8 4 2 --data cifar10 --output eval/
"""

from __future__ import annotations

import argparse
from typing import Any

from ghnq_tf.evaluation.baselines import BASELINES


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the `evaluate` command to the `ghnq-tf` sub-command parsers.

    Args:
        subparsers: what `argparse.ArgumentParser.add_subparsers()` returned.

    Returns:
        The `evaluate` parser (its `func` default is `cmd_evaluate`).

    Example:
        >>> sub = argparse.ArgumentParser().add_subparsers(dest="command")
        >>> add_parser(sub).prog.endswith("evaluate")
        True
    """
    p = subparsers.add_parser(
        "evaluate",
        help="top-1 of GHN-predicted quantized parameters over a split, beside baselines",
        description="For each architecture of a split and each bitwidth: predict, quantize, "
        "calibrate on training images and evaluate on the whole test set; compare with a "
        "float-trained GHN, random init, no message passing and QAT from scratch. Writes "
        "evaluation.json, evaluation.md and evaluation.png.",
    )
    p.add_argument("--ghn", required=True, help="a GHN checkpoint (.keras) or a bundled name")
    p.add_argument("--float-ghn", help="a float-trained GHN (checkpoint or bundled name)")
    p.add_argument("--split", default="test", help="test, val, wide, deep, bnfree or applications")
    p.add_argument("--bits", type=int, nargs="+", default=[8, 4, 2], help="e.g. 8 4 2")
    p.add_argument(
        "--data",
        default="cifar10",
        help="cifar10 (TensorFlow Datasets), digits, or image_folder:<path> for a local copy",
    )
    p.add_argument("--num-archs", type=int, help="first N architectures (default: all)")
    p.add_argument("--image-size", type=int, help="image side (default: the dataset's)")
    p.add_argument(
        "--baselines",
        nargs="*",
        choices=BASELINES,
        help="baselines to run (default: all; float_ghn only with --float-ghn)",
    )
    p.add_argument("--float-ghn-bits", type=int, help="bits told to the float GHN")
    p.add_argument("--limit", type=int, help="first N test images (default: all)")
    p.add_argument("--calibration-steps", type=int, default=8, help="training batches")
    p.add_argument("--calibration-batch-size", type=int, default=64)
    p.add_argument(
        "--ranges",
        choices=("mse", "minmax"),
        default="mse",
        help="quantizer ranges set by calibration: least-squares (default) or tfmot's min/max",
    )
    p.add_argument("--scratch-archs", type=int, default=10, help="QAT-from-scratch subset")
    p.add_argument("--scratch-steps", type=int, default=500, help="QAT steps per network")
    p.add_argument("--scratch-batch-size", type=int, default=64)
    p.add_argument("--scratch-learning-rate", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=250, help="test images per call")
    p.add_argument(
        "--ghn-batch",
        type=int,
        default=8,
        help="architectures per GHN call; results are saved after each such chunk (1: per arch)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", "-o", required=True, help="output directory")
    p.add_argument("--no-resume", action="store_true", help="overwrite an earlier run in --output")
    p.add_argument(
        "--skip-failures",
        action="store_true",
        help="record an architecture that fails and go on (default: stop the run)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_evaluate)
    return p


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Runs `gq.evaluate` from parsed arguments; prints the table; returns 0.

    Example:
        cmd_evaluate(parser.parse_args(["evaluate", "--ghn", "g.keras", "-o", "out"]))
    """
    from ghnq_tf.evaluation.evaluate import evaluate
    from ghnq_tf.evaluation.report import PLOT_FILE, RESULT_FILE, TABLE_FILE, markdown

    result = evaluate(
        args.ghn,
        split=args.split,
        bits=tuple(args.bits),
        data=args.data,
        num_archs=args.num_archs,
        image_size=args.image_size,
        batch_size=args.batch_size,
        ghn_batch=args.ghn_batch,
        limit=args.limit,
        calibration_steps=args.calibration_steps,
        calibration_batch_size=args.calibration_batch_size,
        ranges=args.ranges,
        baselines=args.baselines,
        float_ghn=args.float_ghn,
        float_ghn_bits=args.float_ghn_bits,
        scratch_archs=args.scratch_archs,
        scratch_steps=args.scratch_steps,
        scratch_batch_size=args.scratch_batch_size,
        scratch_learning_rate=args.scratch_learning_rate,
        seed=args.seed,
        output_dir=args.output,
        resume=not args.no_resume,
        skip_failures=args.skip_failures,
        progress=not args.no_progress,
    )
    print()
    print(markdown(result))
    names = ", ".join((RESULT_FILE, TABLE_FILE, PLOT_FILE))
    print(f"wrote {names} to {args.output} in {result['seconds']:.0f} s")
    return 0


__all__ = ["add_parser", "cmd_evaluate"]
