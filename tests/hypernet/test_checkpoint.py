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
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(mismatched, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                data = data.replace(b'"hidden": 16', b'"hidden": 32')
            dst.writestr(item, data)
    with pytest.raises(ValueError, match="Could not read a GHN"):
        GHN.load(str(mismatched))
    with pytest.raises(ValueError, match="must end in '.keras'"):
        ghn.save(str(tmp_path / "ghn.h5"))


def test_unknown_pretrained_name_lists_available():
    with pytest.raises(ValueError, match="Unknown pretrained GHN 'nope'. Available"):
        GHN.from_pretrained("nope")
