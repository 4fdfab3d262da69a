"""`ghnq_tf._keras`: Keras 2 selection and the Keras 3 errors."""

import os
import subprocess
import sys

import pytest

from ghnq_tf._keras import check_tf_keras_model, keras


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environ.update(TF_CPP_MIN_LOG_LEVEL="3", **env)
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120
    )


def test_import_selects_tf_keras_when_unset():
    result = _run(
        "import os, ghnq_tf, tensorflow as tf;"
        "print(os.environ['TF_USE_LEGACY_KERAS'], tf.keras.__name__)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "tf_keras.api._v2.keras"]


def test_tensorflow_already_on_keras3_raises_clear_error():
    result = _run("import tensorflow as tf; tf.keras.layers; import ghnq_tf")
    assert result.returncode != 0
    assert "ImportError: TensorFlow was already imported with Keras 3 active" in result.stderr
    assert "TF_USE_LEGACY_KERAS=1" in result.stderr


def test_explicit_keras3_setting_is_respected_and_reported():
    result = _run("import ghnq_tf", TF_USE_LEGACY_KERAS="0")
    assert result.returncode != 0
    assert "TF_USE_LEGACY_KERAS is set to '0'" in result.stderr


def test_check_tf_keras_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert check_tf_keras_model(model) is model
    with pytest.raises(TypeError, match="must be a `tf_keras.Model`"):
        check_tf_keras_model(object(), arg_name="net")
