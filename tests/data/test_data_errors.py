"""Clear errors, raised by load()/info() themselves, not while iterating."""

from __future__ import annotations

import re

import pytest

from ghnq_tf import data


def test_datasets_names():
    assert data.DATASETS == ("cifar10", "digits", "image_folder")
    assert data.__all__ == ["DATASETS", "info", "load"]


@pytest.mark.parametrize("name", ["mnist", "cifar10:foo", "Digits", ""])
def test_unknown_dataset_lists_valid_names(name):
    for fn in (data.load, lambda n, _: data.info(n)):
        with pytest.raises(ValueError, match="Unknown dataset") as err:
            fn(name, "train")
        for valid in ("cifar10", "digits", "image_folder:<path>"):
            assert valid in str(err.value)


def test_name_must_be_a_string():
    with pytest.raises(TypeError, match="must be a string"):
        data.load(None, "train")


def test_image_folder_without_path():
    with pytest.raises(ValueError, match="needs a path"):
        data.load("image_folder", "train")
    with pytest.raises(ValueError, match="needs a path"):
        data.load("image_folder:", "train")


def test_missing_folder_names_path_and_layout(tmp_path):
    missing = tmp_path / "nowhere"
    for call in (
        lambda: data.load(f"image_folder:{missing}", "train"),
        lambda: data.info(f"image_folder:{missing}"),
    ):
        with pytest.raises(FileNotFoundError) as err:
            call()
        assert str(missing) in str(err.value)
        assert "<root>/<split>/<class>/<image>" in str(err.value)


def test_file_instead_of_folder(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        data.load(f"image_folder:{path}", "train")


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="is empty"):
        data.load(f"image_folder:{tmp_path}", "train")


def test_split_without_class_folders(tmp_path, jpeg_tools):
    write_jpeg, _, _ = jpeg_tools
    write_jpeg(tmp_path / "train" / "0001.jpg", (0, 0, 0))
    with pytest.raises(ValueError, match="no class sub-folders .*1 image files"):
        data.load(f"image_folder:{tmp_path}", "train")


def test_split_without_images(tmp_path):
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "train" / "dog").mkdir()
    (tmp_path / "train" / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"class folders \['cat', 'dog'\] but no images"):
        data.load(f"image_folder:{tmp_path}", "train")


def test_some_class_folder_without_images(tree):
    (tree / "train" / "dog").mkdir()
    with pytest.raises(ValueError, match=r"without images .*\['dog'\]"):
        data.load(f"image_folder:{tree}", "train")


def test_unknown_split_image_folder(tree):
    with pytest.raises(ValueError, match=re.escape("['test', 'train']")) as err:
        data.load(f"image_folder:{tree}", "validation")
    assert "validation" in str(err.value)


def test_class_folders_without_split_folder_get_a_hint(tmp_path, jpeg_tools):
    write_jpeg, _, _ = jpeg_tools
    write_jpeg(tmp_path / "cat" / "0001.jpg", (0, 0, 0))
    write_jpeg(tmp_path / "dog" / "0001.jpg", (9, 9, 9))
    with pytest.raises(ValueError, match="look like class folders"):
        data.load(f"image_folder:{tmp_path}", "train")


@pytest.mark.parametrize("name", ["digits", "cifar10"])
def test_unknown_split_builtin(name):
    with pytest.raises(ValueError, match=re.escape("['test', 'train']")):
        data.load(name, "validation")


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "64", None])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        data.load("digits", "train", batch_size=batch_size)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"limit": 0}, "`limit`"),
        ({"limit": 1.5}, "`limit`"),
        ({"image_size": (32,)}, "`image_size`"),
        ({"image_size": 0}, "`image_size`"),
        ({"image_size": (32, "a")}, "`image_size`"),
        ({"shuffle": "yes"}, "`shuffle`"),
        ({"seed": 1.0}, "`seed`"),
    ],
)
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        data.load("digits", "train", **kwargs)


def test_bad_split_type():
    with pytest.raises(ValueError, match="`split`"):
        data.load("digits", 0)
