"""Normalization and augmentation shared by every dataset.

Augmentation runs on batches of raw pixels (uint8, or float in [0, 1]), before
normalization, so the padding of the random crop is black (pixel value 0), as
in the standard CIFAR recipe (`RandomCrop(32, padding=4)` then `Normalize`).
`normalize` takes float pixels in [0, 1].

Example:
    >>> images = tf.random.uniform((8, 32, 32, 3))
    >>> x = normalize(images, mean=CIFAR10_MEAN, std=CIFAR10_STD)
    >>> y = augment(images, seed=tf.constant([1, 2], tf.int64))
"""

from __future__ import annotations

from collections.abc import Sequence

from ghnq_tf._keras import tf

# Standard CIFAR-10 statistics of [0, 1] pixels (train split, per channel).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

# Statistics of the `digits` train split as `load("digits", "train")` builds it:
# sklearn `load_digits` pixels / 16, train_test_split(test_size=0.2,
# random_state=0, stratify=labels) -> 1,437 images, bilinearly resized from 8x8
# to 32x32 with `tf.image.resize(..., antialias=True)`, grey copied to 3 channels.
# Computed once with `ghnq_tf.data.digits.compute_statistics()` (mean and std
# over all pixels of the split; the three channels are identical).
DIGITS_MEAN = (0.3054, 0.3054, 0.3054)
DIGITS_STD = (0.3237, 0.3237, 0.3237)

# Crop padding of the CIFAR recipe, for 32-pixel images; scaled to other sizes.
_PAD_AT_32 = 4


def normalize(images: tf.Tensor, *, mean: Sequence[float], std: Sequence[float]) -> tf.Tensor:
    """Standardizes [0, 1] images per channel: `(images - mean) / std`.

    Args:
        images: float tensor `[..., C]` with values in [0, 1].
        mean: `C` per-channel means.
        std: `C` per-channel standard deviations.

    Returns:
        A float32 tensor of the same shape.

    Example:
        normalize(tf.fill((1, 2, 2, 3), 0.5), mean=(0.5,) * 3, std=(0.25,) * 3)
    """
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)
    return (tf.cast(images, tf.float32) - mean) / std


def crop_padding(height: int, width: int) -> tuple[int, int]:
    """Padding of the random crop: 4 pixels for a 32-pixel side, scaled (>= 1)."""
    return (
        max(1, round(_PAD_AT_32 * height / 32)),
        max(1, round(_PAD_AT_32 * width / 32)),
    )


def augment(images: tf.Tensor, *, seed: tf.Tensor, flip: bool = True) -> tf.Tensor:
    """Random crop after zero padding, then (optionally) a random horizontal flip.

    Each image gets its own crop offset and flip. The padding is 4 pixels per
    side for a 32x32 image, scaled with the image size. Vectorized over the
    batch (two gathers), and stateless: the same `seed` gives the same result,
    so a pipeline that draws seeds from a seeded source is reproducible.

    Args:
        images: `[B, H, W, C]` batch or one `[H, W, C]` image, any dtype, with
            static `H, W, C`.
        seed: integer tensor of shape `[2]`.
        flip: also flip left-right, each image with probability 1/2.

    Returns:
        The augmented images, same shape and dtype.

    Example:
        >>> out = augment(tf.random.uniform((8, 32, 32, 3)), seed=tf.constant([0, 7]))
    """
    single = images.shape.rank == 3
    x = images[tf.newaxis] if single else images
    height, width = int(x.shape[1]), int(x.shape[2])
    pad_h, pad_w = crop_padding(height, width)
    batch = tf.shape(x)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    padded = tf.pad(x, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]])
    top = tf.random.stateless_uniform([batch], seeds[0], maxval=2 * pad_h + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([batch], seeds[1], maxval=2 * pad_w + 1, dtype=tf.int32)
    rows = top[:, tf.newaxis] + tf.range(height)[tf.newaxis]
    cols = left[:, tf.newaxis] + tf.range(width)[tf.newaxis]
    if flip:
        # Reading the cropped columns right to left is the horizontal flip.
        do_flip = tf.random.stateless_uniform([batch], seeds[2]) < 0.5
        cols = tf.where(do_flip[:, tf.newaxis], tf.reverse(cols, axis=[1]), cols)
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    out = tf.gather(out, cols, axis=2, batch_dims=1)
    out = tf.ensure_shape(out, x.shape)
    return out[0] if single else out


__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "augment",
    "crop_padding",
    "normalize",
]
