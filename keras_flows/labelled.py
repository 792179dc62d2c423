"""Labelled images for class-conditional Glow and latent manipulation: one
sub-folder of images per class, or CelebA's attribute file (`list_attr_celeba.txt`:
a count, the attribute names, then a row `file v1 v2 ...` of -1/1 per image)."""

import pathlib

import numpy as np

from keras_flows.checks import check_image_args
from keras_flows.data import read_images
from keras_flows.files import class_folders, list_images


def load_class_folders(path, size, limit_per_class=None, channels=3):
    """`(x, y, class_names)`: the images of every sub-folder of `path`, read as in
    `load_image_folder`, with `y` the index of each one's sub-folder in the sorted
    `class_names`. Files directly in `path` belong to no class."""
    check_image_args(size, channels)
    folder = pathlib.Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Labelled image folder not found: '{folder}'.")
    classes = class_folders(folder)
    xs, ys = [], []
    for label, sub in enumerate(classes):
        files = list_images(sub)
        xs.append(read_images(files, size, channels, limit_per_class, sub)[0])
        ys.append(np.full(len(xs[-1]), label, "int32"))
    return np.concatenate(xs), np.concatenate(ys), [sub.name for sub in classes]


def read_attributes(file):
    """`(names, table)` of a CelebA-style attribute file: the attribute names
    and, per image file name, a bool array (True where the value is 1)."""
    lines = pathlib.Path(file).expanduser().read_text().splitlines()
    if len(lines) < 3:
        raise ValueError(
            f"Attribute file '{file}' is empty or has no rows: expected a count, "
            "the attribute names, then one row per image (CelebA's "
            "list_attr_celeba.txt)."
        )
    names, table = lines[1].split(), {}
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise ValueError(
                f"Attribute file '{file}', line {number}: expected a file name "
                f"and {len(names)} values, got {len(parts)} fields."
            )
        if any(v not in ("-1", "1") for v in parts[1:]):
            raise ValueError(
                f"Attribute file '{file}', line {number}: values must be -1 or 1."
            )
        table[parts[0]] = np.array([v == "1" for v in parts[1:]])
    return names, table


def load_attribute_groups(
    folder, attributes_file, attribute, size, limit=None, channels=3
):
    """`(x_with, x_without)`: the images of `folder` whose row in `attributes_file`
    has `attribute` (1) and those without it (-1), at most `limit` of each, in
    sorted file order (for `model.latent_direction`)."""
    names, table = read_attributes(attributes_file)
    if attribute not in names:
        raise ValueError(
            f"'{attributes_file}' has no attribute '{attribute}'; it has: "
            f"{', '.join(names)}."
        )
    column = names.index(attribute)
    files = list_images(folder)
    has = {f: table[n][column] for f in files if (n := pathlib.Path(f).name) in table}
    groups = []
    for present in (True, False):
        chosen = [f for f, value in has.items() if value == present]
        if not chosen:
            side = "with" if present else "without"
            raise ValueError(
                f"'{folder}' has no image {side} '{attribute}' among the "
                f"{len(has)} listed in '{attributes_file}': a direction needs "
                "images on both sides."
            )
        groups.append(read_images(chosen, size, channels, limit, folder)[0])
    return tuple(groups)
