"""What every dataset source hands to the common `load()` pipeline.

A source lists its examples as *light* elements (a file path, a small array, an
undecoded record) in a fixed, class-mixed order with `limit` already applied,
and says how to turn one element into an image. `load()` then shuffles the
light elements, decodes them in parallel, augments, batches and normalizes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from ghnq_tf._keras import tf

# Fixed seed of the one-time permutation that mixes class-sorted example lists,
# so that an unshuffled epoch is always the same class-mixed order (batch-norm
# statistics of a single-class batch are meaningless). It does not depend on
# `load(seed=...)`, so `limit=n` always selects the same n examples.
ORDER_SEED = 0


@dataclasses.dataclass(frozen=True)
class Source:
    """One split of one dataset, ready for the common pipeline.

    Attributes:
        elements: dataset of light elements in their fixed order, `limit` applied.
        num_examples: number of elements in `elements`.
        decode: maps one element to `(image, label)`: image `[H, W, 3]` at
            `image_shape`, either uint8 (0..255) or float32 in [0, 1] (the
            pipeline converts after batching, which is cheaper), label int32.
        image_shape: `(H, W, 3)` of the decoded images.
        num_classes: number of label ids.
        mean: per-channel mean used by `normalize=True` (on [0, 1] pixels).
        std: per-channel standard deviation used by `normalize=True`.
        flip: whether `augment=True` may flip images horizontally.
        shuffle_buffer: shuffle buffer size, in elements.
    """

    elements: tf.data.Dataset
    num_examples: int
    decode: Callable[..., tuple[tf.Tensor, tf.Tensor]]
    image_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    flip: bool = True
    shuffle_buffer: int | None = None


def check_split(dataset: str, split: Any, valid: Sequence[str]) -> str:
    """Returns `split` if it is one of `valid`, else raises a clear ValueError."""
    if not isinstance(split, str) or split not in valid:
        raise ValueError(
            f"Unknown split for dataset '{dataset}'. Expected one of "
            f"{sorted(valid)}. Received: split={split!r}"
        )
    return split


def resize_to(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Resizes a `[H, W, C]` image to `size` unless it already has it.

    Bilinear with antialiasing (which only matters when shrinking). The dtype
    is kept (uint8 is rounded back). The result has the static shape
    `size + (C,)`.
    """
    height, width = size
    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], height), tf.equal(shape[1], width))

    def resize() -> tf.Tensor:
        resized = tf.image.resize(image, (height, width), antialias=True)
        if image.dtype == tf.uint8:
            return tf.saturate_cast(tf.round(resized), tf.uint8)
        return tf.cast(resized, image.dtype)

    resized = tf.cond(same, lambda: image, resize)
    channels = image.shape[-1]
    return tf.ensure_shape(resized, (height, width, channels))
