"""Sliced splits ('train[:-n]' / 'train[-n:]'): a disjoint hold-out of the training images."""

from __future__ import annotations

import numpy as np
import pytest

from ghnq_tf import data

tfds = pytest.importorskip("tensorflow_datasets")


def _all(ds) -> tuple[np.ndarray, np.ndarray]:
    batches = [(x.numpy(), y.numpy()) for x, y in ds]
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def test_digits_slices_partition_the_fixed_order():
    fit = _all(data.load("digits", "train[:-300]", shuffle=False, batch_size=500, image_size=8))
    held = _all(data.load("digits", "train[-300:]", shuffle=False, batch_size=500, image_size=8))
    whole = _all(data.load("digits", "train", shuffle=False, batch_size=500, image_size=8))
    assert len(fit[0]) == 1137 and len(held[0]) == 300  # 1,437 training digits
    np.testing.assert_array_equal(np.concatenate([fit[0], held[0]]), whole[0])
    np.testing.assert_array_equal(np.concatenate([fit[1], held[1]]), whole[1])


def test_sliced_train_shuffles_within_its_slice_only():
    held = _all(data.load("digits", "train[-300:]", shuffle=False, batch_size=500, image_size=8))
    shuffled = _all(data.load("digits", "train[-300:]", batch_size=500, image_size=8, seed=3))
    assert not np.array_equal(held[1], shuffled[1])  # 'train' slices shuffle by default
    np.testing.assert_array_equal(np.sort(held[1]), np.sort(shuffled[1]))


def test_slice_then_limit():
    x, _ = _all(data.load("digits", "train[100:]", shuffle=False, limit=7, image_size=8))
    whole, _ = _all(data.load("digits", "train", shuffle=False, limit=107, image_size=8))
    np.testing.assert_array_equal(x, whole[100:])


def test_tfds_slices_are_disjoint_and_fixed():
    with tfds.testing.mock_data(num_examples=20):
        fit = _all(data.load("cifar10", "train[:-5]", shuffle=False, batch_size=32))
        held = _all(data.load("cifar10", "train[-5:]", batch_size=32))
        whole = _all(data.load("cifar10", "train", shuffle=False, batch_size=32))
    assert len(fit[0]) == 15 and len(held[0]) == 5
    held_rows = {row.tobytes() for row in held[0]}
    assert not held_rows & {row.tobytes() for row in fit[0]}
    assert held_rows == {row.tobytes() for row in whole[0][-5:]}


@pytest.mark.parametrize("split", ["train[:-x]", "train[1:2:3]", "train[", "[:5]"])
def test_malformed_slice_is_rejected(split):
    with pytest.raises(ValueError, match="sliced like a Python list"):
        data.load("digits", split)


def test_empty_slice_is_rejected():
    with pytest.raises(ValueError, match="selects no example"):
        data.load("digits", "train[5:5]")


def test_unknown_base_split_is_named():
    with pytest.raises(ValueError, match="Unknown split"):
        data.load("digits", "valid[:10]")
