"""ghnq_tf: graph hypernetworks that predict quantization-robust parameters.

Given a `tf_keras` CNN it has never seen, a graph hypernetwork (GHN) predicts
all of its parameters in one pass, so that the network is accurate once
quantized to 8, 4 or 2 bits.

Importing `ghnq_tf` only selects Keras 2 for TensorFlow (see
`ghnq_tf._env`); TensorFlow itself loads on first use of a public name, so
the `ghnq-tf` command can start quietly.

Example:
    import ghnq_tf as gq
    graph = gq.graph_from_keras(model)
    gt = gq.graphs_to_tensor([graph], bits=4)
"""

from __future__ import annotations

import importlib
from typing import Any

from ghnq_tf._env import select_keras2
from ghnq_tf._version import __version__  # noqa: F401  (public, in __all__)

select_keras2()

# Public name → the module that defines it (a module's own name: the module).
_EXPORTS: dict[str, str] = {
    "ArchGraph": "ghnq_tf.graph",
    "GHN": "ghnq_tf.hypernet",
    "GHNTrainer": "ghnq_tf.training.trainer",
    "OpNode": "ghnq_tf.graph",
    "ParamRef": "ghnq_tf.graph",
    "UnsupportedLayerError": "ghnq_tf.graph",
    "calibrate": "ghnq_tf.quant",
    "data": "ghnq_tf.data",
    "evaluate": "ghnq_tf.evaluation.evaluate",
    "evaluate_tflite": "ghnq_tf.export",
    "export": "ghnq_tf.export",
    "export_tflite": "ghnq_tf.export",
    "ghn_gradients": "ghnq_tf.training.two_tape",
    "graph": "ghnq_tf.graph",
    "graph_from_keras": "ghnq_tf.graph",
    "graphs_to_tensor": "ghnq_tf.graph",
    "predict": "ghnq_tf.prediction.predict",
    "predict_many": "ghnq_tf.prediction.predict",
    "quant": "ghnq_tf.quant",
    "quantize": "ghnq_tf.quant",
    "search_space": "ghnq_tf.search_space",
    "tuning": "ghnq_tf.tuning",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ghnq_tf' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"ghnq_tf.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
