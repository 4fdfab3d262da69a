"""Resuming `gq.evaluate`: the finished architectures of an earlier run with the same settings."""

from __future__ import annotations

import functools
import inspect
import json
from pathlib import Path
from typing import Any

from ghnq_tf.evaluation.report import RESULT_FILE

#: Settings that do not change per-architecture results (ignored when resuming).
RESUME_IGNORED = ("num_archs", "batch_size", "ghn_batch")


@functools.lru_cache(maxsize=1)
def _ghn_defaults() -> dict[str, Any]:
    from ghnq_tf.hypernet.ghn import GHN

    parameters = inspect.signature(GHN.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a resumed run must share: without the ignored ones, and
    each GHN's config without options at their defaults (a GHN option added
    after a run started must not block resuming it)."""
    defaults, unset = _ghn_defaults(), object()
    result = {}
    for key, value in config.items():
        if key in RESUME_IGNORED:
            continue
        if isinstance(value, dict) and isinstance(value.get("config"), dict):
            kept = {k: v for k, v in value["config"].items() if defaults.get(k, unset) != v}
            value = {**value, "config": kept}
        result[key] = value
    return result


def previous_records(
    output_dir: str | None, config: dict[str, Any], resume: bool
) -> dict[str, Any]:
    """Finished per-architecture records of an earlier run with the same settings."""
    if output_dir is None:
        return {}
    path = Path(output_dir) / RESULT_FILE
    if not path.is_file() or not resume:
        return {}
    old = json.loads(path.read_text())
    mine = comparable(json.loads(json.dumps(config)))
    theirs = comparable({"test_split": "test", **old.get("config", {})})  # its default
    if mine != theirs:
        differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        raise ValueError(
            f"`output_dir` {output_dir!r} holds an evaluation with other settings (they "
            f"differ in: {', '.join(differ)}). Use another `output_dir`, or `resume=False` "
            "to overwrite it."
        )
    return {record["name"]: _int_bits(record) for record in old.get("archs", [])}


def _int_bits(record: dict[str, Any]) -> dict[str, Any]:
    """JSON turned the bits keys into strings; turn them back."""
    for key in ("accuracy", "loss", "qat_loss"):
        if key in record:
            record[key] = {
                m: {int(b): v for b, v in values.items()} if isinstance(values, dict) else values
                for m, values in record[key].items()
            }
    for key in ("seconds_per_bits",):
        if key in record:
            record[key] = {int(b): v for b, v in record[key].items()}
    return record
