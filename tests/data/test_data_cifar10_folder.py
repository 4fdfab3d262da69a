"""The real CIFAR-10 image folder (../shared/data/cifar10), read quickly."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

from ghnq_tf import data

# `../shared/data/cifar10` from the project root, or $GHNQ_CIFAR10_DIR.
ROOT = pathlib.Path(
    os.environ.get("GHNQ_CIFAR10_DIR")
    or pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10"
)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")  # fmt: skip

pytestmark = pytest.mark.skipif(
    not (ROOT / "test").is_dir(),
    reason=f"the CIFAR-10 image folder is not on this machine (looked for {ROOT})",
)


def test_test_split_counts_without_decoding():
    meta = data.info(f"image_folder:{ROOT}")
    assert meta["class_names"] == CLASSES
    assert meta["splits"]["test"] == 10_000
    assert meta["image_shape"] == (32, 32, 3)
    counts = [len(list((ROOT / "test" / name).glob("*.jpg"))) for name in CLASSES]
    assert counts == [1000] * 10


def test_first_batches_are_mixed_and_normalized():
    ds = data.load(f"image_folder:{ROOT}", "test", batch_size=256)
    assert int(ds.cardinality()) == 40  # 10,000 / 256, rounded up
    batches = [(x.numpy(), y.numpy()) for x, y in ds.take(2)]
    images = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    assert images.shape == (512, 32, 32, 3) and images.dtype == np.float32
    assert labels.dtype == np.int32
    # Unshuffled but class-mixed: every class shows up in the first batch.
    assert len(set(batches[0][1])) == 10
    # CIFAR-10 normalization: roughly zero mean, unit std per channel.
    assert np.all(np.abs(images.mean(axis=(0, 1, 2))) < 0.15)
    assert np.all(np.abs(images.std(axis=(0, 1, 2)) - 1.0) < 0.15)
    again = next(iter(data.load(f"image_folder:{ROOT}", "test", batch_size=256)))[1]
    np.testing.assert_array_equal(again.numpy(), batches[0][1])
