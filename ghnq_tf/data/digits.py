"""`digits`: the embedded default dataset, with no download.

scikit-learn's `load_digits` holds 1,797 real 8x8 handwritten digits with
values 0..16. They are shaped like CIFAR-10 for the same models: scaled to
[0, 1], resized to 32x32 (or `image_size`) and copied to 3 channels. The
'train'/'test' split is deterministic and stratified
(`train_test_split(test_size=0.2, random_state=0, stratify=labels)`, 1,437 /
360 images), and already class-mixed.

Example:
    >>> source = digits_source(split="train", image_size=(32, 32), limit=None)
    >>> source.num_examples
    1437
"""

from __future__ import annotations

import functools

import numpy as np

from ghnq_tf._keras import tf
from ghnq_tf.data import preprocessing
from ghnq_tf.data.source import Source, check_split

NAME = "digits"
SPLITS = {"train": 1437, "test": 360}
NUM_CLASSES = 10
CLASS_NAMES = tuple(str(i) for i in range(NUM_CLASSES))
DEFAULT_SIZE = (32, 32)
_MAX_VALUE = 16.0  # load_digits pixel range is 0..16
_TEST_SIZE = 0.2
_SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def _arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both splits as `(images uint8 [N, 8, 8], labels int32 [N])`, cached."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # exact: values are integers 0..16
    labels = bunch.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        images,
        labels,
        test_size=_TEST_SIZE,
        random_state=_SPLIT_SEED,
        stratify=labels,
    )
    return {"train": (x_train, y_train), "test": (x_test, y_test)}


def digits_source(*, split: str, image_size: tuple[int, int] | None, limit: int | None) -> Source:
    """Builds the `digits` source for `load()`.

    Args:
        split: 'train' or 'test'.
        image_size: output `(height, width)`; None means 32x32.
        limit: keep only the first `limit` examples; None keeps all.

    Returns:
        A `Source` whose elements are 8x8 uint8 images with their labels.

    Raises:
        ValueError: for an unknown split.
    """
    check_split(NAME, split, tuple(SPLITS))
    height, width = image_size or DEFAULT_SIZE
    images, labels = _arrays()[split]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]

    def decode(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = tf.cast(image, tf.float32)[..., tf.newaxis] / _MAX_VALUE
        x = tf.image.resize(x, (height, width), antialias=True)
        x = tf.clip_by_value(x, 0.0, 1.0)
        x = tf.ensure_shape(tf.tile(x, [1, 1, 3]), (height, width, 3))
        return x, label

    return Source(
        elements=tf.data.Dataset.from_tensor_slices((images, labels)),
        num_examples=len(labels),
        decode=decode,
        image_shape=(height, width, 3),
        num_classes=NUM_CLASSES,
        mean=preprocessing.DIGITS_MEAN,
        std=preprocessing.DIGITS_STD,
        # Mirrored digits are other symbols (or other digits): never flip them.
        flip=False,
    )


def digits_info() -> dict:
    """Static facts about `digits` (no computation)."""
    return {
        "name": NAME,
        "num_classes": NUM_CLASSES,
        "class_names": CLASS_NAMES,
        "image_shape": DEFAULT_SIZE + (3,),
        "splits": dict(SPLITS),
        "mean": preprocessing.DIGITS_MEAN,
        "std": preprocessing.DIGITS_STD,
    }


def compute_statistics() -> tuple[float, float]:
    """Recomputes `preprocessing.DIGITS_MEAN`/`DIGITS_STD` (single channel value).

    Mean and standard deviation over all pixels of the 'train' split at the
    default 32x32 size, before normalization.

    Example:
        >>> mean, std = compute_statistics()
    """
    source = digits_source(split="train", image_size=None, limit=None)
    images = source.elements.map(source.decode).batch(4096).get_single_element()[0]
    return float(tf.reduce_mean(images)), float(tf.math.reduce_std(images))
