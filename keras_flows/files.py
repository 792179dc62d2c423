"""Image files on disk: which there are, in what order, in which class
folders. Keras-free, so the command line checks a `--data` folder at once."""

import pathlib

from keras_flows.checks import check_sizes

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def list_images(path, extensions, start=0, limit=None):
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
    extensions = tuple(e.lower() for e in extensions)
    files = sorted(
        f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in extensions
    )
    stop = None if limit is None else start + limit
    if not files[start:stop]:
        raise ValueError(
            f"No image files found in '{folder}' (searched recursively for "
            f"extensions {extensions}; {len(files)} found, start={start}, "
            f"limit={limit})."
        )
    return [str(f) for f in files[start:stop]]


def has_images(folder, extensions=IMAGE_EXTENSIONS):
    """Whether `folder` holds at least one image file (searched recursively,
    stopping at the first)."""
    return any(
        f.suffix.lower() in extensions and f.is_file()
        for f in pathlib.Path(folder).expanduser().rglob("*")
    )


def class_folders(folder):
    """The sorted sub-folders of `folder` that hold images (at least two): the
    classes of a labelled image folder."""
    folder = pathlib.Path(folder).expanduser()
    classes = [d for d in sorted(folder.iterdir()) if d.is_dir() and has_images(d)]
    if len(classes) < 2:
        raise ValueError(
            f"{folder} needs one sub-folder of images per class (at least two); "
            f"it has {len(classes)} with images"
        )
    return classes
