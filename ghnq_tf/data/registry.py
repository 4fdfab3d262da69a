"""`load()` and `info()`: one entry point for every dataset.

Names: `cifar10` (TensorFlow Datasets), `digits` (embedded, no download) and
`image_folder:<path>` (a `<path>/<split>/<class>/<image>` tree).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

from ghnq_tf._keras import tf
from ghnq_tf.data import preprocessing
from ghnq_tf.data.digits import digits_info, digits_source
from ghnq_tf.data.image_folder import PREFIX, image_folder_info, image_folder_source
from ghnq_tf.data.source import Source
from ghnq_tf.data.tfds_source import SPECS, tfds_info, tfds_source

#: Dataset names `load()` accepts; `image_folder` is spelled `image_folder:<path>`.
DATASETS: tuple[str, ...] = ("cifar10", "digits", PREFIX)

_VALID_NAMES = "'cifar10', 'digits' or 'image_folder:<path>'"


def _parse_name(name: Any) -> tuple[str, str | None]:
    """Splits a dataset name into `(kind, path)`; raises a clear error if unknown."""
    if not isinstance(name, str):
        raise TypeError(
            f"`name` must be a string, one of {_VALID_NAMES}. "
            f"Received: name={name!r} of type {type(name).__name__}"
        )
    kind, sep, path = name.partition(":")
    if kind == PREFIX:
        if not path:
            raise ValueError(
                "Dataset 'image_folder' needs a path: 'image_folder:<path>', where "
                f"<path> holds <split>/<class>/<image> files. Received: name={name!r}"
            )
        return PREFIX, os.path.expanduser(path)
    if not sep and (name in SPECS or name == "digits"):
        return name, None
    raise ValueError(f"Unknown dataset. Expected one of {_VALID_NAMES}. Received: name={name!r}")


def _positive_int(value: Any, arg: str, *, optional: bool = False) -> int | None:
    """Returns `value` if it is a positive int (or None when optional), else raises."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        kind = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(f"Argument `{arg}` must be {kind}. Received: {arg}={value!r}")
    return value


def _image_size(value: Any) -> tuple[int, int] | None:
    """Normalizes `image_size` to `(height, width)` or None, else raises."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    ok = (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    )
    if not ok:
        raise ValueError(
            "Argument `image_size` must be None, a positive integer or a pair "
            f"(height, width) of positive integers. Received: image_size={value!r}"
        )
    return int(value[0]), int(value[1])


_SLICE = re.compile(r"^(?P<base>[^\[\]]+)\[(?P<start>-?\d+)?:(?P<stop>-?\d+)?\]$")


def _parse_split(split: str) -> tuple[str, slice | None]:
    """`'train[:-2000]'` -> `('train', slice(None, -2000))`; plain names pass through."""
    if "[" not in split:
        return split, None
    match = _SLICE.match(split)
    if match is None:
        raise ValueError(
            "Argument `split` must be a split name, optionally sliced like a Python "
            "list by example index, e.g. 'train', 'train[:-2000]' or 'train[-2000:]'. "
            f"Received: split={split!r}"
        )
    start, stop = (None if v is None else int(v) for v in match.group("start", "stop"))
    return match.group("base"), slice(start, stop)


def _slice_source(source: Source, window: slice, limit: int | None, split: str) -> Source:
    """The examples of `source`'s fixed order in `window` (then the first `limit`)."""
    indices = range(source.num_examples)[window]
    if not len(indices):
        raise ValueError(
            f"Split {split!r} selects no example of the {source.num_examples} available."
        )
    count = len(indices) if limit is None else min(limit, len(indices))
    elements = source.elements.skip(indices.start).take(count)
    buffer = min(count, source.shuffle_buffer or count)
    return dataclasses.replace(source, elements=elements, num_examples=count, shuffle_buffer=buffer)


def _source(
    name: str,
    split: str,
    *,
    image_size: tuple[int, int] | None,
    limit: int | None,
    data_dir: str | None,
    shuffle: bool,
    seed: int,
) -> Source:
    """Builds the `Source` of a dataset name and split (checks both)."""
    kind, path = _parse_name(name)
    if kind == PREFIX:
        return image_folder_source(root=path, split=split, image_size=image_size, limit=limit)
    if kind == "digits":
        return digits_source(split=split, image_size=image_size, limit=limit)
    return tfds_source(
        kind,
        split=split,
        image_size=image_size,
        limit=limit,
        data_dir=data_dir,
        shuffle_files=shuffle,
        seed=seed,
    )


def load(
    name: str,
    split: str,
    *,
    batch_size: int = 64,
    shuffle: bool | None = None,
    augment: bool = False,
    normalize: bool = True,
    limit: int | None = None,
    data_dir: str | None = None,
    image_size: int | tuple[int, int] | None = None,
    seed: int = 0,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Loads a split of an image-classification dataset as batches.

    Every dataset yields `(images, labels)`: images float32 `[B, H, W, 3]`,
    labels int32 `[B]`. Unshuffled, the order is fixed and class-mixed (image
    folders are permuted once with a fixed seed), so `limit=n` always selects
    the same `n` examples. Arguments and the dataset's layout are checked
    here, not lazily while iterating.

    Args:
        name: 'cifar10' (tfds; downloads on first use), 'digits' (scikit-learn's
            1,797 8x8 digits, embedded, resized to 32x32) or
            'image_folder:<path>' (`<path>/<split>/<class>/<image>.jpg`; sorted
            class folder names give the label ids).
        split: 'train' or 'test' (for image folders: any split folder name),
            optionally sliced by example index like a Python list, as in tfds:
            'train[:-2000]' and 'train[-2000:]' split the training images
            into a fitting part and a disjoint hold-out (slices follow the
            fixed order, so they never overlap).
        batch_size: images per batch.
        shuffle: reshuffle every epoch (seeded). None means True for 'train'
            and False otherwise.
        augment: random crop after zero padding (4 pixels for a 32-pixel
            image, scaled with the size) and random horizontal flip (not for
            `digits`).
        normalize: standardize per channel: CIFAR-10 statistics for 'cifar10'
            and image folders, the `digits` train statistics for 'digits'.
            False leaves pixels in [0, 1].
        limit: keep only the first `limit` examples of the fixed order.
        data_dir: tfds data directory (tfds datasets only).
        image_size: output size, `(height, width)` or one int for a square.
            None: 32x32 for 'cifar10' and 'digits', the first image's size for
            image folders.
        seed: seed of shuffling and augmentation; the same seed gives the same
            batches.
        drop_remainder: drop the last batch if it is smaller than `batch_size`.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` batches.

    Raises:
        ValueError: unknown dataset name or split, bad argument, or an image
            folder without class folders or images.
        FileNotFoundError: the image folder does not exist.

    Example:
        import ghnq_tf as gq
        ds = gq.data.load("digits", "train", batch_size=32, augment=True)
        images, labels = next(iter(ds))    # [32, 32, 32, 3] float32, [32] int32
        test = gq.data.load("image_folder:data/cifar10", "test")  # a local copy
    """
    batch_size = _positive_int(batch_size, "batch_size")
    limit = _positive_int(limit, "limit", optional=True)
    size = _image_size(image_size)
    if shuffle is not None and not isinstance(shuffle, bool):
        raise ValueError(f"Argument `shuffle` must be True, False or None. Received: {shuffle!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed!r}")
    if not isinstance(split, str):
        raise ValueError(f"Argument `split` must be a string. Received: split={split!r}")
    base, window = _parse_split(split)
    if shuffle is None:
        shuffle = base == "train"

    source = _source(
        name,
        base,
        image_size=size,
        limit=None if window else limit,
        data_dir=data_dir,
        shuffle=shuffle and window is None,  # sliced: keep tfds shards in their fixed order
        seed=seed,
    )
    if window is not None:
        source = _slice_source(source, window, limit, split)
    return build_pipeline(
        source,
        batch_size=batch_size,
        shuffle=shuffle,
        augment=augment,
        normalize=normalize,
        seed=seed,
        drop_remainder=drop_remainder,
    )


def build_pipeline(
    source: Source,
    *,
    batch_size: int,
    shuffle: bool,
    augment: bool,
    normalize: bool,
    seed: int,
    drop_remainder: bool,
) -> tf.data.Dataset:
    """Shuffle light elements, decode (and augment) in parallel, batch, normalize."""
    autotune = tf.data.AUTOTUNE
    ds = source.elements
    if shuffle:
        buffer = source.shuffle_buffer or source.num_examples
        ds = ds.shuffle(max(1, buffer), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(source.decode, num_parallel_calls=autotune)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    mean, std, flip = source.mean, source.std, source.flip
    op_seed = tf.constant(seed, tf.int64)

    def finish(
        images: tf.Tensor, labels: tf.Tensor, draw: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        if draw is not None:
            images = preprocessing.augment(images, seed=tf.stack([draw, op_seed]), flip=flip)
        # uint8 -> [0, 1] once per batch is cheaper than once per image.
        images = tf.image.convert_image_dtype(images, tf.float32)
        if normalize:
            images = preprocessing.normalize(images, mean=mean, std=std)
        return images, labels

    if augment:
        # One seeded draw per batch, new every epoch: reproducible augmentation
        # with stateless ops, whatever the parallelism.
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, draws)).map(
            lambda batch, draw: finish(*batch, draw), num_parallel_calls=autotune
        )
    else:
        ds = ds.map(finish, num_parallel_calls=autotune)
    return ds.prefetch(autotune)


def info(name: str) -> dict:
    """Facts about a dataset, without loading its images.

    Args:
        name: as for `load()`.

    Returns:
        A dict with `name`, `num_classes`, `class_names`, `image_shape`
        (`(H, W, 3)` before any `image_size`; for image folders, the shape of
        one image), `splits` (split name -> number of images) and the `mean`/
        `std` that `normalize=True` uses. For image folders this lists the files.

    Raises:
        ValueError, FileNotFoundError: as for `load()`.

    Example:
        >>> gq.data.info("digits")["splits"]
        {'train': 1437, 'test': 360}
    """
    kind, path = _parse_name(name)
    if kind == PREFIX:
        return image_folder_info(path)
    if kind == "digits":
        return digits_info()
    return tfds_info(kind)
