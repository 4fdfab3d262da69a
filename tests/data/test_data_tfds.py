"""cifar10 through tensorflow-datasets, served by tfds.testing.mock_data."""

from __future__ import annotations

import numpy as np
import pytest

from ghnq_tf import data
from ghnq_tf.data import preprocessing

tfds = pytest.importorskip("tensorflow_datasets")


def test_cifar10_batches_shapes_and_dtypes():
    with tfds.testing.mock_data(num_examples=20):
        ds = data.load("cifar10", "train", batch_size=8)
        batches = [(x.numpy(), y.numpy()) for x, y in ds]
    assert [x.shape for x, _ in batches] == [(8, 32, 32, 3), (8, 32, 32, 3), (4, 32, 32, 3)]
    assert all(x.dtype == np.float32 and y.dtype == np.int32 for x, y in batches)
    labels = np.concatenate([y for _, y in batches])
    assert labels.min() >= 0 and labels.max() < 10


def test_cifar10_limit_size_normalization_and_augment():
    with tfds.testing.mock_data(num_examples=20):
        raw = data.load("cifar10", "test", batch_size=32, normalize=False, limit=5)
        norm = data.load("cifar10", "test", batch_size=32, limit=5)
        small = data.load("cifar10", "test", image_size=16, drop_remainder=True, batch_size=4)
        aug = data.load("cifar10", "test", batch_size=32, augment=True, normalize=False, limit=5)
        (x_raw, y_raw), (x_norm, y_norm) = next(iter(raw)), next(iter(norm))
        x_small, _ = next(iter(small))
        n_small = sum(1 for _ in small)
        x_aug, y_aug = next(iter(aug))
    assert x_raw.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(y_raw, y_norm)
    expected = (x_raw.numpy() - preprocessing.CIFAR10_MEAN) / preprocessing.CIFAR10_STD
    np.testing.assert_allclose(x_norm.numpy(), expected, atol=1e-5)
    assert x_small.shape == (4, 16, 16, 3) and n_small == 5
    np.testing.assert_array_equal(y_aug, y_raw)
    assert x_aug.shape == x_raw.shape and not np.allclose(x_aug, x_raw)


def test_cifar10_info_is_static():
    meta = data.info("cifar10")
    assert meta["splits"] == {"train": 50_000, "test": 10_000}
    assert meta["num_classes"] == 10 and meta["image_shape"] == (32, 32, 3)
    assert meta["class_names"][0] == "airplane"
