"""The `ghnq-tf` command.

TensorFlow's C++ runtime prints start-up notes (oneDNN, CUDA probing) to the
process's stderr before any logging setting applies; the command hides them
unless `--verbose` is given. The library itself never touches the caller's
stderr or environment (apart from selecting Keras 2, see `ghnq_tf._keras`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from ghnq_tf._applications import APPLICATIONS, build_application
from ghnq_tf._quiet import quiet_native_stderr
from ghnq_tf._version import __version__


def _load_tensorflow(verbose: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
    with quiet_native_stderr(not verbose):
        import tensorflow_gnn  # noqa: F401

        from ghnq_tf._keras import tf

        tf.config.list_physical_devices()  # probes (and complains about) CUDA now
        tf.get_logger().setLevel("ERROR")


def _cmd_graph(args: argparse.Namespace) -> int:
    import ghnq_tf as gq
    from ghnq_tf._keras import keras

    if args.model in APPLICATIONS:
        model = build_application(args.model, side=args.size)
    elif os.path.exists(args.model):
        model = keras.models.load_model(args.model, compile=False)
    else:
        print(
            f"error: `model` must be a saved tf_keras model file or one of "
            f"{', '.join(APPLICATIONS)}. Received: {args.model!r}",
            file=sys.stderr,
        )
        return 2
    graph = gq.graph_from_keras(model)
    ops: dict[str, int] = {}
    for node in graph.nodes:
        ops[node.op] = ops.get(node.op, 0) + 1
    print(
        f"{graph.name}: {graph.num_nodes} nodes, {len(graph.edges)} edges, "
        f"{len(graph.params)} parameter tensors, {graph.num_weights:,} weights"
    )
    print("ops: " + ", ".join(f"{k}={v}" for k, v in sorted(ops.items())))
    if args.output:
        from ghnq_tf._io import atomic_write_text

        atomic_write_text(args.output, graph.to_json())
        print(f"wrote {args.output}")
    return 0


def _cmd_search_space(args: argparse.Namespace) -> int:
    from ghnq_tf import search_space

    search_space.print_summary(args.split, n=args.n)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from ghnq_tf.training.config import load_config
    from ghnq_tf.training.run import train

    config = load_config(args.config, overrides=args.override)
    if args.output_dir:
        config.output_dir = args.output_dir
    result = train(config)
    history = result["history"]
    last = {k: round(v[-1], 4) for k, v in history.items()}
    print(f"trained {config.name} in {result['seconds']:.0f} s: {last}")
    print(f"GHN saved to {config.output_dir}/ghn_best.keras (and ghn_last.keras)")
    return 0


def _cmd_bundle(args: argparse.Namespace) -> int:
    from ghnq_tf.hypernet.checkpoint import bundle_run

    command = args.command_line or f"ghnq-tf train --config configs/{args.name}.yaml"
    target = bundle_run(args.run, args.name, command=command, dest=args.dest)
    print(f"bundled {target} (GHN.from_pretrained({args.name!r}))")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ghnq_tf.demo import run_demo

    run_demo(**({"archs": tuple(args.archs)} if args.archs else {}))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ghnq-tf",
        description="Graph hypernetworks that predict quantization-robust parameters "
        "for unseen Keras CNNs.",
    )
    parser.add_argument("--version", action="version", version=f"ghnq-tf {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show TensorFlow's start-up messages"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    graph = sub.add_parser("graph", help="describe a Keras model as an architecture graph")
    graph.add_argument("model", help="a saved tf_keras model, or a tf_keras.applications name")
    graph.add_argument("--size", type=int, default=None, help="input side for applications")
    graph.add_argument("-o", "--output", help="write the ArchGraph as JSON here")
    graph.set_defaults(func=_cmd_graph)

    space = sub.add_parser("search-space", help="summarize a split of the training search space")
    space.add_argument(
        "split", help="train, val, test, wide, deep, bnfree, zoo_train, zoo_val or zoo"
    )
    space.add_argument("-n", type=int, default=None, help="number of train architectures")
    space.set_defaults(func=_cmd_search_space)

    train = sub.add_parser("train", help="train a GHN from a YAML config")
    train.add_argument("--config", required=True, help="e.g. configs/digits_w4a4.yaml")
    train.add_argument(
        "--override",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="change config values, e.g. training.epochs=2 data.batch_size=32 (repeatable)",
    )
    train.add_argument("--output-dir", help="where to write (default: the config's)")
    train.set_defaults(func=_cmd_train)

    bundle = sub.add_parser("bundle", help="ship a trained run's GHN in ghnq_tf/pretrained/")
    bundle.add_argument("--run", required=True, help="a `ghnq-tf train` output directory")
    bundle.add_argument("--name", required=True, help="the name for GHN.from_pretrained")
    bundle.add_argument("--command-line", help="the command that produced the run")
    bundle.add_argument(
        "--dest",
        help="the registry folder to write (default: ghnq_tf/pretrained/, the one "
        "GHN.from_pretrained reads)",
    )
    bundle.set_defaults(func=_cmd_bundle)

    from ghnq_tf.evaluation.cli import add_parser as add_evaluate_parser
    from ghnq_tf.tuning.cli import add_parser as add_tune_parser

    add_evaluate_parser(sub)
    add_tune_parser(sub)

    demo = sub.add_parser("demo", help="run the embedded demo (no download)")
    demo.add_argument(
        "--archs",
        type=int,
        nargs="+",
        default=None,
        help="indices of `test` networks to show (default: 0 8, the first two with "
        "at most 100 graph nodes)",
    )
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `ghnq-tf`; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _load_tensorflow(args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
