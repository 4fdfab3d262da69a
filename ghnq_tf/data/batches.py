"""Unlabeled image batches from a tf.data.Dataset or NumPy array.

Example:
    for x in iter_batches(x_train, batch_size=64, steps=4):
        print(x.shape)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ghnq_tf._keras import tf


def _data_error(data: Any, arg_name: str) -> TypeError:
    return TypeError(
        f"`{arg_name}` must be a tf.data.Dataset of images or (images, labels), a NumPy "
        f"array of images, or an (images, labels) tuple of arrays. Received: "
        f"{arg_name}={type(data).__name__}"
    )


def _images(element: Any) -> Any:
    if isinstance(element, dict):
        for key in ("image", "images", "x"):
            if key in element:
                return element[key]
        raise ValueError(f"Dataset elements are dicts without an 'image' key: {list(element)}")
    if isinstance(element, (tuple, list)):
        return element[0]
    return element


def check_steps(steps: Any, arg_name: str = "steps") -> int | None:
    """Validates a positive step count (or None)."""
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(
            f"`{arg_name}` must be a positive int or None. Received: {arg_name}={steps!r}"
        )
    return steps


def iter_batches(
    data: Any,
    *,
    batch_size: int = 32,
    steps: int | None = None,
    image_rank: int = 4,
    arg_name: str = "data",
) -> Iterator[np.ndarray]:
    """Yields float32 image batches (labels dropped) from `data`.

    Args:
        data: a `tf.data.Dataset` (batched or not) of images, (images, labels)
            or {"image": ...} elements; a NumPy array of images; or an
            (images, labels) tuple of arrays.
        batch_size: batch size for arrays and unbatched datasets.
        steps: at most this many batches (None: all).
        image_rank: rank of a batch of images (4 for NHWC).
        arg_name: name used in error messages.

    Yields:
        NumPy float32 arrays of shape (n, ...).

    Example:
        >>> next(iter_batches(np.zeros((10, 8, 8, 3)), batch_size=4)).shape
        (4, 8, 8, 3)
    """
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], (int, float)):
        data = data[0]
    if isinstance(data, tf.data.Dataset):
        spec = _images(data.element_spec)
        if spec.shape.rank == image_rank - 1:
            data = data.batch(batch_size)
        iterator = (_images(element) for element in data)
    elif isinstance(data, np.ndarray) or tf.is_tensor(data):
        array = np.asarray(data)
        if array.ndim == image_rank - 1:
            array = array[None]
        iterator = (array[i : i + batch_size] for i in range(0, len(array), batch_size))
    else:
        raise _data_error(data, arg_name)
    for count, batch in enumerate(iterator):
        if steps is not None and count >= steps:
            return
        yield np.asarray(batch, dtype=np.float32)
