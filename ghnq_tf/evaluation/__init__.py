"""Evaluation of GHN-predicted quantized parameters over a split, beside baselines.

Names load on first use, so the `ghnq-tf` parser can import
`ghnq_tf.evaluation.cli` without starting TensorFlow. The function itself is
`gq.evaluate` (`ghnq_tf.evaluation.evaluate.evaluate`; here
`ghnq_tf.evaluation.evaluate` is its module).

Example:
    import ghnq_tf as gq
    result = gq.evaluate(gq.GHN.load("ghn.keras"), split="test", bits=(8, 4, 2),
                         data="cifar10", output_dir="eval/")
    result["methods"]["ghn"][4]["mean"]
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "BASELINES": "ghnq_tf.evaluation.baselines",
    "METHODS": "ghnq_tf.evaluation.baselines",
    "ScratchBudget": "ghnq_tf.evaluation.baselines",
    "markdown": "ghnq_tf.evaluation.report",
    "plot_png": "ghnq_tf.evaluation.report",
    "summarize": "ghnq_tf.evaluation.report",
    "write_outputs": "ghnq_tf.evaluation.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ghnq_tf.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
