"""`ghnq-tf tune`: a whole GHN hyperparameter search from a tune config."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ghnq_tf.tuning.config import TuneConfig


def tune(config: TuneConfig, *, overwrite: bool = False, verbose: int = 1) -> dict[str, Any]:
    """Runs (or resumes) the search a tune config describes.

    Writes the best training config to `config.output_path()` and the
    trials to `<directory>/<project_name>/summary.json`.

    Example:
        result = tune(load_tune_config("configs/tune_ghn.yaml"))
        result["best_config"]  # 'runs/tune_ghn/ghn/best.yaml'

    Args:
        config: the tune config.
        overwrite: start afresh instead of resuming.
        verbose: Keras Tuner's trial display (0: silent).

    Returns:
        The best trial's values and score, the paths written, timings.
    """
    from ghnq_tf._io import atomic_write_text
    from ghnq_tf.tuning.ghn_tuner import GHNTuner

    start = time.perf_counter()
    tuner = GHNTuner.from_tune_config(config, overwrite=overwrite)
    done_before = len(tuner.summary_dict()["trials"])
    tuner.search(verbose=verbose)
    summary = tuner.summary_dict()
    output = tuner.write_best_config(config.output_path())
    summary_path = Path(tuner.project_dir) / "summary.json"
    result = {
        "name": config.name,
        "best": summary["trials"][0],
        "completed": len(summary["trials"]),
        "trials_run_now": len(summary["trials"]) - done_before,
        "failed": summary["failed"],
        "best_config": str(output),
        "summary": str(summary_path),
        "seconds": time.perf_counter() - start,
        "tune_config": config.to_dict(),
    }
    atomic_write_text(summary_path, json.dumps({**result, **summary}, indent=2, default=str) + "\n")
    return result
