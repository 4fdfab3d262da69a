"""The `ghnq-tf` command: help, version, quiet start-up, graph subcommand."""

import json
import os
import subprocess
import sys

import ghnq_tf


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "ghnq_tf.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_help_and_version():
    result = _cli("--help")
    assert result.returncode == 0 and "graph" in result.stdout and "demo" in result.stdout
    result = _cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ghnq-tf {ghnq_tf.__version__}"


def test_graph_command_is_quiet_and_writes_json(tmp_path):
    out = tmp_path / "vgg.json"
    result = _cli("graph", "VGG16", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # TensorFlow's start-up noise is hidden
    assert "38 nodes" in result.stdout
    assert json.loads(out.read_text())["name"] == "vgg16"


def test_override_takes_several_values_and_repeats():
    from ghnq_tf.cli import _parser

    args = _parser().parse_args(
        ["train", "--config", "c.yaml", "--override", "a=1", "b=2", "--override", "c=3"]
    )
    assert args.override == ["a=1", "b=2", "c=3"]
    args = _parser().parse_args(["tune", "--config", "t.yaml", "--override", "x=1", "y=2"])
    assert args.override == ["x=1", "y=2"]


def test_graph_command_bad_model_is_a_clear_error():
    result = _cli("graph", "NoSuchNet")
    assert result.returncode == 2
    assert "must be a saved tf_keras model file or one of" in result.stderr
