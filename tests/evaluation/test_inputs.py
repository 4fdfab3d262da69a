"""`resolve_data`: a dataset name is used as given, with no path outside the package."""

from __future__ import annotations

import pytest

from ghnq_tf.evaluation.inputs import resolve_data


@pytest.mark.parametrize("name", ["cifar10", "digits", "image_folder:/data/cifar10"])
def test_names_are_used_as_given(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no local folder is looked for, wherever it runs
    assert resolve_data(name) == name


def test_a_name_must_be_a_string():
    with pytest.raises(TypeError, match="dataset name"):
        resolve_data(10)
