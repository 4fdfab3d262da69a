"""normalize() and augment(), directly and through load()."""

from __future__ import annotations

import numpy as np

from ghnq_tf import data
from ghnq_tf._keras import tf
from ghnq_tf.data import preprocessing


def candidates(image: np.ndarray, pad: int, flip: bool):
    """Every crop of the zero-padded image (and its mirror)."""
    h, w, _ = image.shape
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    for top in range(2 * pad + 1):
        for left in range(2 * pad + 1):
            crop = padded[top : top + h, left : left + w]
            yield crop
            if flip:
                yield crop[:, ::-1]


def test_augment_is_a_padded_crop_and_flip():
    images = tf.random.stateless_uniform((6, 32, 32, 3), seed=(0, 1))
    out = preprocessing.augment(images, seed=tf.constant([3, 4]))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert not np.allclose(out, images)
    for original, augmented in zip(images.numpy(), out.numpy(), strict=True):
        assert any(np.array_equal(augmented, c) for c in candidates(original, 4, flip=True))
    again = preprocessing.augment(images, seed=tf.constant([3, 4]))
    np.testing.assert_array_equal(out, again)
    other = preprocessing.augment(images, seed=tf.constant([3, 5]))
    assert not np.array_equal(out, other)


def test_augment_without_flip_single_image_and_uint8():
    image = tf.cast(tf.random.stateless_uniform((16, 16, 3), (2, 2), maxval=255), tf.uint8)
    out = preprocessing.augment(image, seed=tf.constant([0, 9]), flip=False)
    assert out.shape == (16, 16, 3) and out.dtype == tf.uint8
    assert any(np.array_equal(out, c) for c in candidates(image.numpy(), 2, flip=False))


def test_crop_padding_scales_with_size():
    assert preprocessing.crop_padding(32, 32) == (4, 4)
    assert preprocessing.crop_padding(224, 64) == (28, 8)
    assert preprocessing.crop_padding(4, 4) == (1, 1)


def test_normalize():
    x = tf.fill((2, 3, 3, 3), 0.5)
    out = preprocessing.normalize(x, mean=(0.5, 0.25, 0.0), std=(1.0, 0.25, 0.5))
    np.testing.assert_allclose(out[0, 0, 0], [0.0, 1.0, 1.0])


def test_load_augment_keeps_shapes_changes_pixels_and_is_reproducible():
    kwargs = dict(batch_size=50, shuffle=False, limit=100, normalize=False)
    plain = [(x.numpy(), y.numpy()) for x, y in data.load("digits", "train", **kwargs)]
    ds = data.load("digits", "train", augment=True, seed=5, **kwargs)
    epoch1 = [(x.numpy(), y.numpy()) for x, y in ds]
    epoch2 = [x.numpy() for x, _ in ds]
    reloaded = [x.numpy() for x, _ in data.load("digits", "train", augment=True, seed=5, **kwargs)]
    for (xp, yp), (xa, ya), x2, xr in zip(plain, epoch1, epoch2, reloaded, strict=True):
        assert xa.shape == xp.shape and xa.dtype == np.float32
        np.testing.assert_array_equal(ya, yp)
        assert np.mean(np.any(xa != xp, axis=(1, 2, 3))) > 0.5
        np.testing.assert_array_equal(xa, xr)  # same seed, same batches
        assert not np.array_equal(xa, x2)  # new augmentation every epoch
    # Digits are never mirrored: each image is a shifted crop of the original.
    for xp, xa in zip(plain[0][0][:5], epoch1[0][0][:5], strict=True):
        assert any(np.allclose(xa, c) for c in candidates(xp, 4, flip=False))
