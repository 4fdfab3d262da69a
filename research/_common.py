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


def use_threads(threads: int | None) -> None:
    """Runs TensorFlow's ops on `threads` threads (intra- and inter-op); None: its default.

    Call it before TensorFlow runs its first op.
    """
    if threads:
        from ghnq_tf._keras import tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
