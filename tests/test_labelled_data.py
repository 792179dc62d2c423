"""Labelled image data: a folder with one sub-folder per class, and CelebA's
attribute file (`list_attr_celeba.txt`) beside an image folder."""

import imageio.v3 as iio
import numpy as np
import pytest

from keras_flows import labelled


def _image(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.full((6, 6, 3), value, "uint8"))


def _value(x):
    return np.rint((x[:, 0, 0, 0] + 1.0) * 127.5).astype(int).tolist()


@pytest.fixture
def class_folder(tmp_path):
    """cats/ (3 images, pixel 10..12), dogs/ (2, 20..21), a nested one and a
    stray file at the top, which belongs to no class."""
    for i in range(3):
        _image(tmp_path / "cats" / f"{i}.png", 10 + i)
    _image(tmp_path / "dogs" / "a.png", 20)
    _image(tmp_path / "dogs" / "deeper" / "b.png", 21)
    _image(tmp_path / "stray.png", 99)
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_a_folder_per_class(class_folder):
    x, y, names = labelled.load_class_folders(class_folder, 4)
    assert names == ["cats", "dogs"]  # sorted; the empty folder is no class
    assert x.shape == (5, 4, 4, 3) and x.dtype == "float32"
    assert y.tolist() == [0, 0, 0, 1, 1]
    assert _value(x) == [10, 11, 12, 20, 21]  # the stray top-level file is not read
    x, y, _ = labelled.load_class_folders(class_folder, 4, limit_per_class=1)
    assert y.tolist() == [0, 1] and _value(x) == [10, 20]


def test_class_folders_need_two_classes(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        labelled.load_class_folders(tmp_path / "nope", 4)
    _image(tmp_path / "only" / "a.png", 1)
    _image(tmp_path / "b.png", 2)
    with pytest.raises(ValueError, match="one sub-folder of images per class"):
        labelled.load_class_folders(tmp_path, 4)


ATTRIBUTES = """4
Smiling Young  Male
000001.jpg  1 -1  1
000002.jpg -1 -1  1
000003.jpg  1  1 -1
000004.jpg -1  1 -1
"""


@pytest.fixture
def celeba_like(tmp_path):
    """Four images named as CelebA's (pixel 10 * index) and their attributes;
    000005.jpg has no row (a user's extra file)."""
    images = tmp_path / "img_align_celeba"
    for i in range(1, 6):
        _image(images / f"{i:06d}.jpg", 10 * i)
    (tmp_path / "list_attr_celeba.txt").write_text(ATTRIBUTES)
    return images, tmp_path / "list_attr_celeba.txt"


def test_read_the_attribute_file(celeba_like):
    _, file = celeba_like
    names, table = labelled.read_attributes(file)
    assert names == ["Smiling", "Young", "Male"]
    assert table["000003.jpg"].tolist() == [True, True, False]
    assert len(table) == 4


def test_images_with_and_without_an_attribute(celeba_like):
    images, file = celeba_like
    with_it, without = labelled.load_attribute_groups(images, file, "Smiling", 6)
    # jpg is lossy: the flat values come back within a step or two.
    np.testing.assert_allclose(_value(with_it), [10, 30], atol=2)
    np.testing.assert_allclose(_value(without), [20, 40], atol=2)
    with_it, without = labelled.load_attribute_groups(images, file, "Young", 6, limit=1)
    assert len(with_it) == len(without) == 1


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("2\nSmiling\n000001.jpg 1\n000002.jpg 0\n", "line 4.*-1 or 1"),
        ("2\nSmiling Young\n000001.jpg 1\n", "line 3.*2 values"),
    ],
)
def test_a_malformed_attribute_file_says_where(tmp_path, text, match):
    (tmp_path / "attrs.txt").write_text(text)
    with pytest.raises(ValueError, match=match):
        labelled.read_attributes(tmp_path / "attrs.txt")


def test_an_unknown_attribute_or_a_one_sided_one_is_refused(celeba_like):
    images, file = celeba_like
    with pytest.raises(ValueError, match="no attribute 'Bald'.*Smiling, Young, Male"):
        labelled.load_attribute_groups(images, file, "Bald", 6)
    (file.parent / "all.txt").write_text("2\nHat\n000001.jpg 1\n000002.jpg 1\n")
    with pytest.raises(ValueError, match="no image without 'Hat'"):
        labelled.load_attribute_groups(images, file.parent / "all.txt", "Hat", 6)
