"""`ghnq-tf train` killed with SIGKILL mid-epoch resumes when run again."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

EPOCHS, STEPS = 2, 2
TINY = [
    "ghn.hidden=8",
    "ghn.num_layers=1",
    "ghn.rank=2",
    "ghn.basis=2",
    "ghn.channels=16",
    "search_space.train_size=1",
    "search_space.val_size=1",
    "training.meta_batch=1",
    "training.qat=false",
    f"training.epochs={EPOCHS}",
    f"training.steps_per_epoch={STEPS}",
    "data.validation_steps=1",
    "data.batch_size=8",
    "data.image_size=8",
    "checkpoint_every=1",
]


def _backups(out):
    """How many step backups the run has written (the backup's `ckpt-N`)."""
    try:
        text = (out / "backup" / "chief" / "checkpoint").read_text()
    except OSError:
        return 0
    found = re.search(r'model_checkpoint_path: "ckpt-(\d+)"', text)
    return int(found.group(1)) if found else 0


def _optimizer_steps(out):
    from ghnq_tf._keras import tf

    reader = tf.train.load_checkpoint(str(out / "backup" / "chief"))
    return int(reader.get_tensor("model/optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"))


@pytest.mark.slow  # two command start-ups and five GHN steps: about a minute on 2 cores
def test_train_killed_mid_epoch_resumes_and_finishes(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ghnq_tf.cli", "train", "--config"]
    command += ["configs/digits_w4a4.yaml", "--output-dir", str(out), "--override", *TINY]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 2400
    # Backup N is written after step N: kill once the first step of epoch 2 is backed up.
    while proc.poll() is None and _backups(out) <= STEPS and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, proc.stderr.read()
    killed_at = _backups(out)
    assert STEPS < killed_at < EPOCHS * STEPS  # mid-epoch 2
    assert not (out / "run.json").exists()

    result = subprocess.run(command, capture_output=True, text=True, timeout=2400)
    assert result.returncode == 0, result.stderr
    # It resumed: the second process ran epoch 2 only, from its second step.
    ran = json.loads((out / "run.json").read_text())["history"]["loss"]
    assert len(ran) == EPOCHS - 1
    assert _optimizer_steps(out) == EPOCHS * STEPS  # no step repeated or skipped
    with open(out / "history.csv") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["0", "1"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]  # the killed run's epoch 1 kept
    best = max(e["val_accuracy"] for e in metrics["epochs"])
    assert metrics["best"]["val_accuracy"] == best
    import ghnq_tf as gq

    gq.GHN.load(str(out / "ghn_best.keras"))
    gq.GHN.load(str(out / "ghn_last.keras"))


def test_a_resumed_run_keeps_the_epochs_logged_before_it(tmp_path):
    from ghnq_tf.training.callbacks import SaveGHN

    logged = [{"epoch": e, "val_accuracy": acc} for e, acc in ((1, 0.3), (2, 0.5), (3, 0.9))]
    (tmp_path / "metrics.json").write_text(json.dumps({"epochs": logged}))
    callback = SaveGHN(str(tmp_path))
    callback.on_train_begin()
    callback.on_epoch_begin(2)  # resumed in epoch 3: epoch 3's entry is logged again
    assert callback.history == logged[:2] and callback.best == 0.5
    fresh = SaveGHN(str(tmp_path))
    fresh.on_train_begin()
    fresh.on_epoch_begin(0)  # a run from the start logs anew
    assert fresh.history == [] and fresh.best == float("-inf")
