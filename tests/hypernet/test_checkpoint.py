"""GHN save / load / from_pretrained, and their errors."""

import zipfile

import numpy as np
import pytest

from ghnq_tf._keras import keras
from ghnq_tf.hypernet import GHN
from ghnq_tf.hypernet.probe import probe_graph


def test_reloaded_ghn_predicts_identical_tensors(tmp_path):
    ghn = GHN(hidden=16, num_layers=1, rank=4).build_all()
    path = tmp_path / "ghn.keras"
    ghn.save(str(path))
    assert [p.name for p in tmp_path.iterdir()] == ["ghn.keras"]  # no temp file left
    again = GHN.load(str(path))
    assert again.get_config() == ghn.get_config()
    for a, b in zip(
        ghn.predict_params(probe_graph(), bits=2)[0],
        again.predict_params(probe_graph(), bits=2)[0],
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def _rewrite(source, target, member, change):
    """Copies the `.keras` archive `source` to `target`, changing one member's bytes."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, change(data) if item.filename == member else data)


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No GHN checkpoint"):
        GHN.load(str(tmp_path / "missing.keras"))
    ghn = GHN(hidden=16, num_layers=1, rank=4)
    good = tmp_path / "good.keras"
    ghn.save(str(good))
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        GHN.load(str(truncated))
    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(other)
    with pytest.raises(ValueError, match="not a ghnq_tf GHN"):
        GHN.load(str(other))
    # A GHN archive whose weights do not fit its config.
    mismatched = tmp_path / "mismatched.keras"
    _rewrite(good, mismatched, "config.json", lambda d: d.replace(b'"hidden": 16', b'"hidden": 32'))
    with pytest.raises(ValueError, match="Could not read a GHN") as info:
        GHN.load(str(mismatched))
    assert "weights do not fit the GHN its config.json describes" in str(info.value)
    assert "damaged" not in str(info.value)
    # A readable zip whose weights file is cut short is damaged.
    _rewrite(good, tmp_path / "cut.keras", "model.weights.h5", lambda data: data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"The file is damaged \(truncated or corrupt\?\)"):
        GHN.load(str(tmp_path / "cut.keras"))
    with pytest.raises(ValueError, match="must end in '.keras'"):
        ghn.save(str(tmp_path / "ghn.h5"))


def test_unknown_pretrained_name_lists_available():
    with pytest.raises(ValueError, match="Unknown pretrained GHN 'nope'. Available"):
        GHN.from_pretrained("nope")


def test_bundled_run_loads_and_is_checked(tmp_path, monkeypatch):
    import json

    from ghnq_tf.hypernet import checkpoint

    monkeypatch.setattr(checkpoint, "PRETRAINED_DIR", tmp_path / "pretrained")
    run = tmp_path / "run"
    run.mkdir()
    ghn = GHN(hidden=16, num_layers=1, rank=4)
    ghn.save(str(run / "ghn_best.keras"))
    (run / "config.json").write_text(json.dumps({"data": {"name": "digits"}}))
    (run / "metrics.json").write_text(json.dumps({"best": {"val_accuracy": 0.5}}))
    checkpoint.bundle_run(run, "tiny", command="ghnq-tf train --config x.yaml")
    manifest = json.loads((tmp_path / "pretrained" / "tiny.json").read_text())
    assert manifest["metrics"]["best"]["val_accuracy"] == 0.5 and len(manifest["sha256"]) == 64
    loaded = GHN.from_pretrained("tiny")
    for a, b in zip(loaded.weights, ghn.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with open(tmp_path / "pretrained" / "tiny.keras", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ValueError, match="does not match its manifest"):
        GHN.from_pretrained("tiny")


def test_every_bundled_ghn_loads_and_has_a_full_manifest():
    # The shipped checkpoints (digits, cifar10, cifar10_float, ...): sha256
    # checked on load, manifest with the command, config, data and metrics.
    from ghnq_tf.hypernet.checkpoint import pretrained_manifests

    manifests = pretrained_manifests()
    assert "digits" in manifests
    for name, manifest in manifests.items():
        assert {"command", "config", "data", "metrics", "sha256", "bytes"} <= set(manifest)
        assert manifest["command"].startswith("ghnq-tf train --config configs/")
        assert manifest["metrics"]["best"]["val_accuracy"] > 0.1  # above chance (10 classes)
        assert manifest["bytes"] < 8_000_000, f"{name}: keep bundled GHNs a few MB"
        ghn = GHN.from_pretrained(name)
        assert ghn.get_config()["hidden"] == manifest["config"]["ghn"]["hidden"]


def test_a_file_saved_without_a_head_says_so_not_that_it_is_damaged(tmp_path):
    # Before every head existed from the decoder's first call, a GHN that had
    # only met some parameter kinds was saved without the other heads' weights.
    import h5py

    good = tmp_path / "good.keras"
    GHN(hidden=16, num_layers=1, rank=4).save(str(good))

    def drop_dw_conv_head(data):  # heads are saved in order: conv, dw_conv, ...
        weights = tmp_path / "model.weights.h5"
        weights.write_bytes(data)
        with h5py.File(weights, "r+") as h5:
            group = h5["layers/param_decoder/heads/sequential_1/layers/dense/vars"]
            for key in list(group):
                del group[key]
        return weights.read_bytes()

    legacy = tmp_path / "legacy.keras"
    _rewrite(good, legacy, "model.weights.h5", drop_dw_conv_head)
    with pytest.raises(ValueError, match="holds no weights for 'head_dw_conv_hidden'") as info:
        GHN.load(str(legacy))
    assert "damaged" not in str(info.value) and "save the GHN again" in str(info.value)
