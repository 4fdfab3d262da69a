"""Helpers shared by the benchmark scripts: quiet TF start-up, saving results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = Path(__file__).resolve().parent / "results"
#: The CIFAR-10 image folder of the machine the figures were measured on.
CIFAR10_FOLDER = "../shared/data/cifar10"


def local_data(name: str) -> str:
    """`name`, with `"cifar10"` read from `CIFAR10_FOLDER` when that folder exists.

    The library's `"cifar10"` is TensorFlow Datasets' copy; the benchmarks
    read the local image folder when there is one, so that they run offline.
    """
    if name == "cifar10" and (Path(CIFAR10_FOLDER) / "test").is_dir():
        return f"image_folder:{CIFAR10_FOLDER}"
    return name


def _cpu_model() -> str:
    """The CPU model name (`platform.processor()` is empty on most Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    import tensorflow as tf

    return {
        "cpu_count": os.cpu_count(),
        "processor": _cpu_model(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def save(name: str, figures: dict[str, object]) -> Path:
    """Writes `figures` (plus the machine) to `RESULTS`/NAME.json."""
    from ghnq_tf._io import atomic_write_text

    path = RESULTS / f"{name}.json"
    atomic_write_text(path, json.dumps({"machine": machine(), **figures}, indent=2) + "\n")
    print(f"saved {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return path


def train_curve(
    step_fn: Callable[[], float],
    *,
    steps: int | None,
    every: int = 25,
    seconds: float | None = None,
    label: str = "",
) -> tuple[list[dict[str, float]], int]:
    """Runs `step_fn()` → train accuracy until `steps` steps or `seconds` pass.

    Returns:
        (the mean of each full `every`-step window as {"step", "train_top1"},
        the number of steps run).
    """
    curve, window, step, start = [], [], 0, time.perf_counter()
    while (steps is None or step < steps) and (
        seconds is None or time.perf_counter() - start < seconds
    ):
        window.append(float(step_fn()))
        step += 1
        if step % every == 0:
            curve.append({"step": step, "train_top1": statistics.fmean(window)})
            window = []
            print(
                f"  {label:>6} step {step:4d}: train top-1 {curve[-1]['train_top1']:.1%} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    return curve, step
