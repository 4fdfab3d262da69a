"""image_folder:<path>: labels, fixed mixed order, shuffling, limit, sizes."""

from __future__ import annotations

import numpy as np

from ghnq_tf import data
from ghnq_tf._keras import tf
from ghnq_tf.data import preprocessing


def collect(ds):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def test_shapes_dtypes_and_labels_match_class_folders(tree, jpeg_tools):
    _, _, colours = jpeg_tools
    ds = data.load(f"image_folder:{tree}", "train", batch_size=4, normalize=False)
    images, labels = collect(ds)
    assert images.shape == (18, 8, 8, 3) and images.dtype == np.float32
    assert labels.dtype == np.int32
    assert 0.0 <= images.min() and images.max() <= 1.0
    # Sorted class folder names give the ids; the image colour tells the class.
    assert np.bincount(labels).tolist() == [6, 6, 6]
    colour_class = images.mean(axis=(1, 2)).argmax(axis=1)
    np.testing.assert_array_equal(colour_class, labels)
    assert tuple(colours) == data.info(f"image_folder:{tree}")["class_names"]


def test_unshuffled_order_is_mixed_and_fixed(tree):
    name = f"image_folder:{tree}"
    ds = data.load(name, "train", batch_size=5, shuffle=False)
    _, epoch1 = collect(ds)
    _, epoch2 = collect(ds)
    _, reloaded = collect(data.load(name, "train", batch_size=7, shuffle=False))
    assert list(epoch1) != sorted(epoch1), "unshuffled order must not be class-sorted"
    np.testing.assert_array_equal(epoch1, epoch2)
    np.testing.assert_array_equal(epoch1, reloaded)
    # A non-train split is unshuffled by default, also class-mixed.
    _, test1 = collect(data.load(name, "test", batch_size=4))
    _, test2 = collect(data.load(name, "test", batch_size=4))
    np.testing.assert_array_equal(test1, test2)
    assert list(test1) != sorted(test1)


def test_shuffle_is_seeded_and_reshuffles_each_epoch(tree):
    name = f"image_folder:{tree}"
    ds = data.load(name, "train", batch_size=18, seed=3)
    x1, first = collect(ds)
    _, second = collect(ds)
    _, again = collect(data.load(name, "train", batch_size=18, seed=3))
    _, other = collect(data.load(name, "train", batch_size=18, seed=4))
    _, fixed = collect(data.load(name, "train", batch_size=18, shuffle=False))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, other)
    assert sorted(first) == sorted(fixed)
    np.testing.assert_array_equal(x1.mean(axis=(1, 2)).argmax(axis=1), first)


def test_limit_takes_first_examples_of_fixed_order(tree):
    name = f"image_folder:{tree}"
    full_x, full_y = collect(data.load(name, "train", shuffle=False))
    x, y = collect(data.load(name, "train", shuffle=False, limit=5, batch_size=2))
    np.testing.assert_array_equal(y, full_y[:5])
    np.testing.assert_allclose(x, full_x[:5])
    ds = data.load(name, "train", limit=100, batch_size=4, drop_remainder=True)
    assert int(ds.cardinality()) == 4  # 18 images, 2 left over


def test_image_size_and_mixed_sizes_are_resized(tree, jpeg_tools):
    write_jpeg, _, colours = jpeg_tools
    write_jpeg(tree / "train" / "bee" / "9999.jpg", colours["bee"], size=(12, 20))
    name = f"image_folder:{tree}"
    x, y = collect(data.load(name, "train", image_size=(16, 24), batch_size=32))
    assert x.shape == (19, 16, 24, 3)
    x, _ = collect(data.load(name, "train", batch_size=32))
    assert x.shape[1:] == (8, 8, 3)  # the first image's size
    ds = data.load(name, "train", image_size=10)
    assert ds.element_spec[0].shape.as_list() == [None, 10, 10, 3]


def test_normalize_uses_cifar_statistics(tree):
    name = f"image_folder:{tree}"
    raw, _ = collect(data.load(name, "test", normalize=False))
    norm, _ = collect(data.load(name, "test"))
    expected = (raw - np.array(preprocessing.CIFAR10_MEAN)) / np.array(preprocessing.CIFAR10_STD)
    np.testing.assert_allclose(norm, expected, atol=1e-5)


def test_grey_and_png_images_become_rgb(tmp_path, jpeg_tools):
    _, make_tree, _ = jpeg_tools
    root = make_tree(tmp_path / "f", per_class={"train": 1})
    grey = tf.io.encode_png(tf.fill((8, 8, 1), tf.constant(200, tf.uint8)))
    (root / "train" / "ant" / "grey.png").write_bytes(grey.numpy())
    x, y = collect(data.load(f"image_folder:{root}", "train", normalize=False))
    assert x.shape == (4, 8, 8, 3)
    grey_image = x[np.all(np.ptp(x, axis=3) < 1e-6, axis=(1, 2))]
    np.testing.assert_allclose(grey_image, 200 / 255, atol=1e-6)


def test_info_counts_every_split(tree):
    meta = data.info(f"image_folder:{tree}")
    assert meta["splits"] == {"test": 9, "train": 18}
    assert meta["num_classes"] == 3 and meta["image_shape"] == (8, 8, 3)
