"""Summaries and files of an evaluation: JSON, a Markdown table, a PNG plot.

All three files are written atomically (a temporary file, then a rename), so
a reader never sees half a file, even while a long evaluation rewrites them
after every chunk of architectures.

Example:
    result = gq.evaluate(ghn, split="test", data="digits", num_archs=2)
    print(markdown(result))
    write_outputs(result, "eval/")   # evaluation.json, .md, .png
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ghnq_tf._io import atomic_write_bytes, atomic_write_text

RESULT_FILE = "evaluation.json"
TABLE_FILE = "evaluation.md"
PLOT_FILE = "evaluation.png"

#: How methods are named in tables and plots.
LABELS = {
    "ghn": "GHN",
    "float_ghn": "float-trained GHN",
    "no_message_passing": "GHN, no message passing",
    "random": "random init",
    "qat_scratch": "QAT from scratch",
}


def summarize(
    records: Sequence[dict[str, Any]], methods: Sequence[str], bits: Sequence[int]
) -> dict[str, dict[int, dict[str, Any]]]:
    """Mean, std (over architectures, ddof 0), min, max and per-architecture top-1.

    Args:
        records: per-architecture records (`result["archs"]`).
        methods: method names, in table order.
        bits: bitwidths, in table order.

    Returns:
        {method: {bits: {"mean", "std", "min", "max", "num_archs",
        "mean_loss" (test cross-entropy, None if not recorded),
        "per_arch": {arch name: top-1}}}}; a method/bitwidth nobody ran is
        left out.

    Example:
        summarize([{"name": "a", "accuracy": {"ghn": {4: 0.5}}}], ["ghn"], [4])
    """
    summary: dict[str, dict[int, dict[str, Any]]] = {}
    for method in methods:
        per_bits = {}
        for b in bits:
            per_arch = {
                r["name"]: float(_by_bits(r["accuracy"][method])[b])
                for r in records
                if b in _by_bits(r.get("accuracy", {}).get(method, {}))
            }
            if not per_arch:
                continue
            values = np.array(list(per_arch.values()))
            losses = [
                float(_by_bits(r["loss"][method])[b])
                for r in records
                if b in _by_bits(r.get("loss", {}).get(method, {}))
            ]
            per_bits[int(b)] = {
                "mean": float(values.mean()),
                "std": float(values.std()),
                "min": float(values.min()),
                "max": float(values.max()),
                "num_archs": len(values),
                "mean_loss": float(np.mean(losses)) if losses else None,
                "per_arch": per_arch,
            }
        if per_bits:
            summary[method] = per_bits
    return summary


def _by_bits(values: dict[Any, Any]) -> dict[int, Any]:
    """Bits keys as ints (JSON turns them into strings)."""
    return {int(k): v for k, v in values.items()}


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def _chance(result: dict[str, Any]) -> str:
    """Chance on the evaluated test images: the commonest label's share when known."""
    uniform = 1 / result["config"]["num_classes"]
    share = result.get("majority_share")
    if share is None or abs(share - uniform) < 5e-4:
        return f"chance is {_percent(uniform)} %"
    return (
        f"chance is {_percent(uniform)} % on a balanced test set; always predicting the "
        f"commonest label of these images scores {_percent(share)} %"
    )


def _total_seconds(result: dict[str, Any], seconds: np.ndarray) -> str:
    """This run's wall time, plus what the architectures reused from earlier runs took."""
    this_run = result.get("seconds", seconds.sum())
    earlier = result.get("resumed_seconds", 0.0)
    if not earlier:
        return f"{this_run:.0f} s"
    return f"{this_run + earlier:.0f} s ({earlier:.0f} s of it in earlier runs, resumed)"


def _scored_images(config: dict[str, Any]) -> str:
    """'10,000 test images', or the images of the split scored instead (a hold-out)."""
    split = config.get("test_split", "test")
    if split == "test":
        return f"{config['test_images']:,} test images"
    return f"{config['test_images']:,} images of `{split}` (not the test images)"


def markdown(result: dict[str, Any]) -> str:
    """The Markdown report: methods × bits (mean ± std, max, #archs) and timings.

    Example:
        print(markdown(result).splitlines()[0])
    """
    config = result["config"]
    bits = [int(b) for b in config["bits"]]
    archs = result.get("archs", [])
    lines = [
        f"# Evaluation: split `{config['split']}`, {len(archs)} architectures, {config['data']}",
        "",
        f"Top-1 (%) on {_scored_images(config)} after quantization (W*b*A*b*) "
        f"and calibration on {config['calibration']['steps']} shuffled training batches of "
        f"{config['calibration']['batch_size']}: mean ± std over architectures "
        f"(max); {_chance(result)}.",
        "",
        "| method | #archs | " + " | ".join(f"W{b}A{b}" for b in bits) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in bits) + " |",
    ]
    for method, per_bits in result["methods"].items():
        per_bits = _by_bits(per_bits)
        count = max(cell["num_archs"] for cell in per_bits.values())
        cells = []
        for b in bits:
            cell = per_bits.get(b)
            cells.append(
                "–"
                if cell is None
                else f"{_percent(cell['mean'])} ± {_percent(cell['std'])} ({_percent(cell['max'])})"
            )
        lines.append(f"| {LABELS.get(method, method)} | {count} | " + " | ".join(cells) + " |")
    failed = result.get("failed", [])
    if failed:
        lines += ["", f"Failed, not in the table ({len(failed)}):"]
        lines += [f"- `{f['name']}`: {f['error']}" for f in failed]
    budget = config.get("qat_scratch")
    if budget:
        lines += [
            "",
            f"QAT from scratch: the first {budget['archs']} architectures, {budget['steps']} "
            f"steps of {budget['batch_size']} images per bitwidth, Adam "
            f"{budget['learning_rate']:g}, augmentation {'on' if budget['augment'] else 'off'}, "
            "from the Keras initialization, then the same calibration.",
        ]
    if archs:
        seconds = np.array([r["seconds"] for r in archs])
        lines += [
            "",
            f"Wall time per architecture (all methods and bitwidths): mean {seconds.mean():.1f} s,"
            f" max {seconds.max():.1f} s; total {_total_seconds(result, seconds)}"
            + ("" if result.get("complete", True) else " so far (incomplete run)")
            + ".",
        ]
    return "\n".join(lines) + "\n"


def plot_png(result: dict[str, Any]) -> bytes:
    """Accuracy against bits, one line per method (mean ± std), as PNG bytes.

    Example:
        Path("evaluation.png").write_bytes(plot_png(result))
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    config = result["config"]
    figure = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for method, per_bits in result["methods"].items():
        per_bits = _by_bits(per_bits)
        xs = sorted(per_bits)
        means = [100 * per_bits[b]["mean"] for b in xs]
        stds = [100 * per_bits[b]["std"] for b in xs]
        axes.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=LABELS.get(method, method))
    chance = result.get("majority_share") or 1 / config["num_classes"]
    axes.axhline(100 * chance, color="grey", linestyle=":", label="chance")
    axes.set_xticks([int(b) for b in config["bits"]])
    axes.set_xlabel("bits (weights and activations)")
    axes.set_ylabel("top-1 (%)")
    axes.set_title(f"{config['split']} split, {len(result.get('archs', []))} architectures")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_outputs(result: dict[str, Any], output_dir: str | os.PathLike) -> dict[str, Path]:
    """Writes `evaluation.json`, `evaluation.md` and `evaluation.png` atomically.

    Args:
        result: what `gq.evaluate` returns.
        output_dir: the folder (created if needed).

    Returns:
        {"json": path, "markdown": path, "plot": path}.

    Example:
        write_outputs(result, "eval/")["markdown"].read_text()
    """
    folder = Path(output_dir)
    paths = {
        "json": atomic_write_text(folder / RESULT_FILE, json.dumps(result, indent=1) + "\n"),
        "markdown": atomic_write_text(folder / TABLE_FILE, markdown(result)),
    }
    if result["methods"]:
        paths["plot"] = atomic_write_bytes(folder / PLOT_FILE, plot_png(result))
    return paths


__all__ = ["markdown", "plot_png", "summarize", "write_outputs"]
