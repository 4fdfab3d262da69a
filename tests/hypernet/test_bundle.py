"""`ghnq-tf bundle` replaces a bundle atomically, even when killed part-way."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ghnq_tf.hypernet import GHN, checkpoint

NAME = "tiny"


def _run(directory, seed):
    """A training run's output folder holding a tiny GHN (weights from `seed`)."""
    from ghnq_tf._keras import keras

    directory.mkdir()
    keras.utils.set_random_seed(seed)
    GHN(hidden=8, num_layers=1, rank=2, basis=2, channels=16).save(
        str(directory / "ghn_best.keras")
    )
    (directory / "config.json").write_text(json.dumps({"data": {"name": "digits"}}))
    (directory / "metrics.json").write_text(json.dumps({"best": {"val_accuracy": seed / 10}}))
    return directory


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(old run, new run, their checkpoints' sha256)."""
    root = tmp_path_factory.mktemp("runs")
    old, new = _run(root / "old", 1), _run(root / "new", 2)
    digests = {checkpoint.sha256_of(r / "ghn_best.keras"): r for r in (old, new)}
    assert len(digests) == 2
    return old, new, digests


def _bundled(dest, digests):
    """The run whose GHN `dest` bundles as `tiny`, after checking the bundle is whole."""
    manifest = checkpoint.pretrained_manifests(directory=dest)[NAME]
    assert manifest["sha256"] in digests, "the manifest names neither bundle"
    assert checkpoint.sha256_of(manifest["path"]) == manifest["sha256"]
    assert os.path.getsize(manifest["path"]) == manifest["bytes"]
    run = digests[manifest["sha256"]]
    assert manifest["metrics"] == json.loads((run / "metrics.json").read_text())
    return run


def _finished(dest, runs):
    old, new, digests = runs
    assert _bundled(dest, digests) == new
    assert sorted(p.name for p in dest.iterdir()) == [f"{NAME}.json", f"{NAME}.keras"]
    assert json.loads((dest / f"{NAME}.json").read_text())["file"] == f"{NAME}.keras"


class _Killed(BaseException):
    """Stands for the process dying: nothing after it runs."""


def test_bundle_stopped_at_each_write_leaves_the_old_or_the_new_bundle(runs, tmp_path, monkeypatch):
    old, new, digests = runs
    dest = tmp_path / "registry"
    checkpoint.bundle_run(old, NAME, command="old", dest=dest)
    assert _bundled(dest, digests) == old
    real_replace = os.replace
    seen = []
    for stop in range(4):  # the staged copy, the manifest, `tiny.keras`, the manifest

        def replace(src, dst, stop=stop):
            if os.path.dirname(os.fspath(dst)) == os.fspath(dest):
                if len(seen) == stop:
                    raise _Killed
                seen.append(os.path.basename(dst))
            real_replace(src, dst)

        seen.clear()
        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(_Killed):
            checkpoint.bundle_run(new, NAME, command="new", dest=dest)
        monkeypatch.setattr(os, "replace", real_replace)
        # Before the manifest first names the new checkpoint: still the old one.
        assert _bundled(dest, digests) == (old if stop < 2 else new), seen
    checkpoint.bundle_run(new, NAME, command="new", dest=dest)
    _finished(dest, runs)


def _kill_when(proc, condition, timeout=600):
    """SIGKILLs `proc` as soon as `condition()` holds; its return code."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if condition():
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.0005)
    return proc.wait(timeout=timeout)


def test_bundle_killed_part_way_leaves_the_old_or_the_new_bundle(runs, tmp_path):
    old, new, digests = runs
    dest = tmp_path / "registry"
    checkpoint.bundle_run(old, NAME, command="old", dest=dest)
    command = [sys.executable, "-m", "ghnq_tf.cli", "bundle", "--run", str(new)]
    command += ["--name", NAME, "--dest", str(dest)]
    before = set(os.listdir(dest))

    def staged_is_named():
        try:
            return json.loads((dest / f"{NAME}.json").read_text())["file"] != f"{NAME}.keras"
        except (OSError, ValueError):
            return False

    # Killed at the first file it creates (the staged copy, being written), then
    # once the manifest names the staged copy (before `tiny.keras` is replaced).
    outcomes = []
    for condition in (lambda: set(os.listdir(dest)) != before, staged_is_named):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        code = _kill_when(proc, condition)
        assert code in (-signal.SIGKILL, 0), proc.stderr.read()
        outcomes.append((code, _bundled(dest, digests).name))
    print(f"bundle kills (return code, bundle left): {outcomes}")  # shown with -s
    assert outcomes[0][1] == "old" or outcomes[0][0] == 0, outcomes
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    _finished(dest, runs)  # and nothing a killed bundle left behind
