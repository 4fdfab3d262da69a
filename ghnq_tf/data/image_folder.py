"""`image_folder:<path>`: images laid out as `<path>/<split>/<class>/<image>`.

Class folder names, sorted alphabetically, give the label ids (so CIFAR-10's
folders give CIFAR-10's label order). Files are listed once in Python, then
permuted once with a fixed seed, so that even an unshuffled pass is the same
class-mixed order every epoch; decoding runs in a parallel `tf.data` map.

Example:
    source = image_folder_source(
        root="data/cifar10", split="test", image_size=None, limit=256)
    source.num_examples, source.image_shape  # 256 images, and the shape of one
"""

from __future__ import annotations

import os

import numpy as np

from ghnq_tf._keras import tf
from ghnq_tf.data import preprocessing
from ghnq_tf.data.source import ORDER_SEED, Source, resize_to

PREFIX = "image_folder"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
LAYOUT = "<root>/<split>/<class>/<image>.jpg (for example <root>/train/cat/0001.jpg)"


def _subdirs(path: str) -> list[str]:
    """Sorted names of the non-hidden sub-directories of `path`."""
    with os.scandir(path) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def _image_files(path: str) -> list[str]:
    """Sorted names of the image files directly in `path`."""
    with os.scandir(path) as entries:
        return sorted(
            e.name
            for e in entries
            if e.is_file()
            and not e.name.startswith(".")
            and e.name.lower().endswith(IMAGE_EXTENSIONS)
        )


def check_root(root: str) -> list[str]:
    """Checks that `root` is an image-folder root; returns its split names.

    Raises:
        FileNotFoundError: `root` does not exist.
        NotADirectoryError: `root` is a file.
        ValueError: `root` has no split folders.
    """
    if not os.path.exists(root):
        raise FileNotFoundError(
            f"Image folder not found: '{root}'. Expected a directory laid out as {LAYOUT}."
        )
    if not os.path.isdir(root):
        raise NotADirectoryError(
            f"Image folder '{root}' is not a directory. Expected a directory laid out as {LAYOUT}."
        )
    splits = _subdirs(root)
    if not splits:
        raise ValueError(
            f"Image folder '{root}' is empty: it has no split folders such as 'train' "
            f"or 'test'. Expected the layout {LAYOUT}."
        )
    return splits


def scan_split(root: str, split: str) -> tuple[list[str], list[str], np.ndarray]:
    """Lists one split of an image folder, checking its layout.

    Args:
        root: the image folder's root directory.
        split: name of a sub-directory of `root`.

    Returns:
        `(class_names, paths, labels)`: sorted class folder names, and every
        image's path and int32 label id, in class-sorted order.

    Raises:
        FileNotFoundError, NotADirectoryError: see `check_root`.
        ValueError: unknown split, no class folders, or class folders
            without images.
    """
    splits = check_root(root)
    if not isinstance(split, str) or split not in splits:
        looks_flat = all(_image_files(os.path.join(root, s)) for s in splits)
        hint = (
            f" Its sub-folders {splits} contain images directly: they look like class "
            f"folders, so move them into a split folder, e.g. '{os.path.join(root, 'train')}'."
            if looks_flat
            else ""
        )
        raise ValueError(
            f"Unknown split for image folder '{root}'. Expected one of {splits} "
            f"(its sub-folders; layout {LAYOUT}).{hint} Received: split={split!r}"
        )
    split_dir = os.path.join(root, split)
    class_names = _subdirs(split_dir)
    if not class_names:
        loose = len(_image_files(split_dir))
        raise ValueError(
            f"Split folder '{split_dir}' has no class sub-folders (it holds {loose} "
            f"image files directly). Expected the layout {LAYOUT}: one folder per class."
        )
    paths: list[str] = []
    labels: list[int] = []
    empty: list[str] = []
    for label, name in enumerate(class_names):
        class_dir = os.path.join(split_dir, name)
        files = _image_files(class_dir)
        if not files:
            empty.append(name)
        paths.extend(os.path.join(class_dir, f) for f in files)
        labels.extend([label] * len(files))
    if not paths:
        raise ValueError(
            f"Split folder '{split_dir}' has class folders {class_names} but no images "
            f"(extensions {list(IMAGE_EXTENSIONS)}). Expected the layout {LAYOUT}."
        )
    if empty:
        raise ValueError(
            f"Class folders without images in '{split_dir}': {empty}. Every class "
            f"folder must hold at least one image ({list(IMAGE_EXTENSIONS)}), "
            "otherwise label ids would silently differ between splits."
        )
    return class_names, paths, np.asarray(labels, dtype=np.int32)


def _read_image(path: str | tf.Tensor) -> tf.Tensor:
    """Decodes one file to uint8 `[H, W, 3]` (grey and RGBA become RGB)."""
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def image_folder_source(
    *, root: str, split: str, image_size: tuple[int, int] | None, limit: int | None
) -> Source:
    """Builds the `image_folder:<root>` source for `load()`.

    Args:
        root: the image folder's root directory.
        split: a split folder name under `root`.
        image_size: output `(height, width)`; None means the size of the first
            image (in the fixed order); other sizes are resized to it.
        limit: keep only the first `limit` examples of the fixed order.

    Returns:
        A `Source` whose elements are `(path, label)` pairs.

    Raises:
        FileNotFoundError, NotADirectoryError, ValueError: see `scan_split`.
    """
    class_names, paths, labels = scan_split(root, split)
    order = np.random.default_rng(ORDER_SEED).permutation(len(paths))
    if limit is not None:
        order = order[:limit]
    paths = [paths[i] for i in order]
    labels = labels[order]
    if image_size is None:
        height, width = (int(d) for d in _read_image(paths[0]).shape[:2])
    else:
        height, width = image_size

    def decode(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return resize_to(_read_image(path), (height, width)), label

    return Source(
        elements=tf.data.Dataset.from_tensor_slices((paths, labels)),
        num_examples=len(paths),
        decode=decode,
        image_shape=(height, width, 3),
        num_classes=len(class_names),
        mean=preprocessing.CIFAR10_MEAN,
        std=preprocessing.CIFAR10_STD,
    )


def image_folder_info(root: str) -> dict:
    """Class names, image shape and split sizes of an image folder.

    Lists every split folder (no decoding except the first image's header).

    Raises:
        FileNotFoundError, NotADirectoryError, ValueError: see `scan_split`.
    """
    splits: dict[str, int] = {}
    class_names: list[str] = []
    first = ""
    for split in check_root(root):
        names, paths, _ = scan_split(root, split)
        splits[split] = len(paths)
        class_names = class_names or names
        first = first or paths[0]
    return {
        "name": f"{PREFIX}:{root}",
        "num_classes": len(class_names),
        "class_names": tuple(class_names),
        "image_shape": tuple(int(d) for d in _read_image(first).shape),
        "splits": splits,
        "mean": preprocessing.CIFAR10_MEAN,
        "std": preprocessing.CIFAR10_STD,
    }
