"""The benchmarks' helpers (`benchmarks/_common.py`), saving under `research/results/`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_benchmarks_common", Path(__file__).resolve().parents[1] / "benchmarks" / "_common.py"
)
_benchmarks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_benchmarks)

RESULTS = _benchmarks.RESULTS = Path(__file__).resolve().parent / "results"
local_data = _benchmarks.local_data
machine = _benchmarks.machine
save = _benchmarks.save
train_curve = _benchmarks.train_curve
