"""Fixtures for the data tests: tiny image-folder trees of real JPEG files."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from ghnq_tf._keras import tf

# One pure colour per class, so a decoded image tells its class.
CLASS_COLOURS = {"ant": (230, 20, 20), "bee": (20, 230, 20), "cow": (20, 20, 230)}
PER_CLASS = {"train": 6, "test": 3}


def write_jpeg(path: pathlib.Path, colour, size=(8, 8)) -> None:
    """Writes a solid-colour JPEG with a little noise (real, decodable file)."""
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    pixels = np.clip(np.asarray(colour) + rng.integers(-10, 11, size + (3,)), 0, 255)
    data = tf.io.encode_jpeg(tf.constant(pixels, tf.uint8), quality=95)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.numpy())


def make_tree(root: pathlib.Path, per_class=None, size=(8, 8)) -> pathlib.Path:
    """Writes `root/<split>/<class>/NNNN.jpg` for the classes of CLASS_COLOURS."""
    for split, count in (per_class or PER_CLASS).items():
        for name, colour in CLASS_COLOURS.items():
            for i in range(count):
                write_jpeg(root / split / name / f"{i:04d}.jpg", colour, size)
    return root


@pytest.fixture
def jpeg_tools():
    """The helpers `(write_jpeg, make_tree, CLASS_COLOURS)` for tests that need them."""
    return write_jpeg, make_tree, CLASS_COLOURS


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    """A 3-class tree: 6 train and 3 test images per class, 8x8 JPEGs."""
    return make_tree(tmp_path / "folder")
