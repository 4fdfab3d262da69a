"""digits: the embedded default (scikit-learn load_digits, no download)."""

from __future__ import annotations

import numpy as np

from ghnq_tf import data
from ghnq_tf.data import digits, preprocessing


def collect(ds):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def test_shapes_dtypes_and_split_sizes():
    ds = data.load("digits", "test", batch_size=100)
    assert ds.element_spec[0].shape.as_list() == [None, 32, 32, 3]
    images, labels = collect(ds)
    assert images.shape == (360, 32, 32, 3) and images.dtype == np.float32
    assert labels.dtype == np.int32
    # Stratified: every class has 35..37 test images.
    assert set(np.bincount(labels, minlength=10)) <= {35, 36, 37}
    train = data.load("digits", "train", batch_size=500)
    assert int(train.cardinality()) == 3  # 1,437 images
    assert sum(int(y.shape[0]) for _, y in train) == 1437
    assert data.info("digits")["splits"] == {"train": 1437, "test": 360}


def test_real_digits_grey_three_channels_in_unit_range():
    images, labels = collect(data.load("digits", "test", normalize=False, limit=50))
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.max() > 0.9
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    # Same pixels as scikit-learn's array, up to the 8x8 -> 32x32 resize.
    originals, expected = digits._arrays()["test"]
    np.testing.assert_array_equal(labels, expected[:50])
    small = images[..., 0].reshape(50, 8, 4, 8, 4).mean(axis=(2, 4)).reshape(50, -1)
    reference = originals[:50].reshape(50, -1) / 16.0
    assert np.corrcoef(small.ravel(), reference.ravel())[0, 1] > 0.95
    distances = ((small[:, None] - reference[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(distances.argmin(axis=1), np.arange(50))


def test_deterministic_and_unshuffled_test_order():
    first = collect(data.load("digits", "test", batch_size=64))
    second = collect(data.load("digits", "test", batch_size=32))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert list(first[1][:40]) != sorted(first[1][:40])


def test_train_shuffles_by_default_with_seed():
    a = collect(data.load("digits", "train", batch_size=256, seed=1))[1]
    b = collect(data.load("digits", "train", batch_size=256, seed=1))[1]
    c = collect(data.load("digits", "train", batch_size=256, seed=2))[1]
    fixed = collect(data.load("digits", "train", batch_size=256, shuffle=False))[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, fixed)
    assert sorted(a) == sorted(fixed)


def test_normalized_train_split_has_zero_mean_unit_std():
    images, _ = collect(data.load("digits", "train", batch_size=1437))
    images = images.astype(np.float64)  # float32 sums over 4.4M pixels drift
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    np.testing.assert_allclose(images.std(axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_hard_coded_statistics_match_their_recipe():
    mean, std = digits.compute_statistics()
    assert abs(mean - preprocessing.DIGITS_MEAN[0]) < 1e-4
    assert abs(std - preprocessing.DIGITS_STD[0]) < 1e-4


def test_image_size():
    images, _ = collect(data.load("digits", "test", image_size=(16, 20), limit=3))
    assert images.shape == (3, 16, 20, 3)
