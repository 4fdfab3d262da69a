"""Helpers shared by the benchmark scripts: quiet TF start-up, saving results."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    import tensorflow as tf

    return {
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def save(name: str, figures: dict[str, object]) -> Path:
    """Writes `figures` (plus the machine) to benchmarks/results/NAME.json."""
    from ghnq_tf._io import atomic_write_text

    path = RESULTS / f"{name}.json"
    atomic_write_text(path, json.dumps({"machine": machine(), **figures}, indent=2) + "\n")
    print(f"saved {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return path
