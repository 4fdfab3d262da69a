"""Datasets read through TensorFlow Datasets (`cifar10`).

`tfds.load` downloads and prepares the data on first use (into `data_dir`,
default `~/tensorflow_datasets`), as users expect. With no internet, pass the
`data_dir` of a prepared copy, or read a local copy with `image_folder:<path>`.
Tests serve fake examples with `tfds.testing.mock_data`.

Example:
    source = tfds_source(
        "cifar10", split="test", image_size=None, limit=None, data_dir=None,
        shuffle_files=False, seed=0)
"""

from __future__ import annotations

import dataclasses

from ghnq_tf._keras import tf
from ghnq_tf.data import preprocessing
from ghnq_tf.data.source import Source, check_split, resize_to


@dataclasses.dataclass(frozen=True)
class TfdsSpec:
    """Static facts about one tfds image-classification dataset."""

    tfds_name: str
    splits: dict[str, int]
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


SPECS: dict[str, TfdsSpec] = {
    "cifar10": TfdsSpec(
        tfds_name="cifar10",
        splits={"train": 50_000, "test": 10_000},
        class_names=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        image_shape=(32, 32, 3),
        mean=preprocessing.CIFAR10_MEAN,
        std=preprocessing.CIFAR10_STD,
    ),
}

# tfds datasets are not class-sorted: the stored order is already mixed, so no
# permutation is needed. Shuffle buffer, in images (CIFAR: about 3 KB each).
_SHUFFLE_BUFFER = 10_000


def tfds_source(
    name: str,
    *,
    split: str,
    image_size: tuple[int, int] | None,
    limit: int | None,
    data_dir: str | None,
    shuffle_files: bool,
    seed: int,
) -> Source:
    """Builds a tfds source for `load()`.

    Args:
        name: a key of `SPECS`.
        split: a split of the dataset ('train' or 'test').
        image_size: output `(height, width)`; None keeps the native size.
        limit: keep only the first `limit` examples.
        data_dir: tfds data directory; None uses the tfds default.
        shuffle_files: let tfds shuffle its file shards (only when shuffling).
        seed: seed of that shard shuffle.

    Returns:
        A `Source` whose elements are `(uint8 image, label)` pairs.

    Raises:
        ValueError: for an unknown split.
    """
    spec = SPECS[name]
    check_split(name, split, tuple(spec.splits))
    import tensorflow_datasets as tfds  # slow import: only when used

    elements = tfds.load(
        spec.tfds_name,
        split=split,
        as_supervised=True,
        data_dir=data_dir,
        shuffle_files=shuffle_files,
        read_config=tfds.ReadConfig(shuffle_seed=seed),
    )
    num_examples = spec.splits[split]
    cardinality = int(elements.cardinality())
    if cardinality >= 0:
        num_examples = cardinality
    if limit is not None:
        elements = elements.take(limit)
        num_examples = min(num_examples, limit)
    height, width = image_size or spec.image_shape[:2]

    def decode(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return resize_to(image, (height, width)), tf.cast(label, tf.int32)

    return Source(
        elements=elements,
        num_examples=num_examples,
        decode=decode,
        image_shape=(height, width, 3),
        num_classes=spec.num_classes,
        mean=spec.mean,
        std=spec.std,
        shuffle_buffer=min(num_examples, _SHUFFLE_BUFFER),
    )


def tfds_info(name: str) -> dict:
    """Static facts about a tfds dataset (no download, no tfds import)."""
    spec = SPECS[name]
    return {
        "name": name,
        "num_classes": spec.num_classes,
        "class_names": spec.class_names,
        "image_shape": spec.image_shape,
        "splits": dict(spec.splits),
        "mean": spec.mean,
        "std": spec.std,
    }
