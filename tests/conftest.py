"""Shared test set-up: quiet TensorFlow and make tests deterministic."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ghnq_tf  # noqa: E402,F401  (selects tf_keras before TensorFlow loads)
