"""Image files on disk: which there are, in what order, in which class
folders. Keras-free, so the command line checks a `--data` folder at once."""

import pathlib

from keras_flows.checks import check_sizes

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def list_images(path, start=0, limit=None):
    """Returns the sorted image files under `path` (recursively), as strings."""
    check_sizes("list_images", 0, start=start)
    if limit is not None:
        check_sizes("list_images", limit=limit)
    folder = pathlib.Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Image folder not found: '{folder}'. Pass the folder holding the "
            "images (see data/README.md for how to get CelebA)."
        )
    files = sorted(filter(_is_image, folder.rglob("*")))
    stop = None if limit is None else start + limit
    if not files[start:stop]:
        raise ValueError(
            f"No image files found in '{folder}' (searched recursively for "
            f"extensions {IMAGE_EXTENSIONS}; {len(files)} found, start={start}, "
            f"limit={limit})."
        )
    return [str(f) for f in files[start:stop]]


def _is_image(file):
    return file.suffix.lower() in IMAGE_EXTENSIONS and file.is_file()


def has_images(folder):
    """Whether `folder` holds an image file (searched recursively, up to the first)."""
    return any(map(_is_image, pathlib.Path(folder).expanduser().rglob("*")))


def class_folders(folder):
    """The sorted sub-folders of `folder` with images: a labelled folder's classes."""
    folder = pathlib.Path(folder).expanduser()
    classes = [d for d in sorted(folder.iterdir()) if d.is_dir() and has_images(d)]
    if len(classes) < 2:
        raise ValueError(
            f"{folder} needs one sub-folder of images per class (at least two); "
            f"it has {len(classes)} with images"
        )
    return classes
