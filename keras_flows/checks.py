"""Input checks shared by the models, loaders and the command line: each raises a
`ValueError` worded the Keras way, before anything is computed or written."""

import math
import pathlib

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def check_finite(x, name="x"):
    """Raises a `ValueError` if `x` holds NaN or inf values.

    Args:
        x: Array-like to check.
        name: Name used in the error message.

    Raises:
        ValueError: If any entry of `x` is NaN or infinite.
    """
    x = np.asarray(x)
    num_bad = x.size - int(np.count_nonzero(np.isfinite(x)))
    if num_bad:
        raise ValueError(
            f"`{name}` contains NaN or inf values at {num_bad} positions; "
            "clean the data before training."
        )


def check_temperature(temperature):
    """Returns `temperature` as a float after checking it is a finite number >= 0.

    The temperature is the standard deviation of the prior draw: 0 gives the
    deterministic mode, a negative value has no meaning.

    >>> check_temperature(0)
    0.0
    """
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            "`temperature` is the standard deviation of the prior draw and must be "
            f"a finite number >= 0. Received: temperature={temperature!r}"
        )
    return value


def has_images(folder, extensions=IMAGE_EXTENSIONS):
    """Whether `folder` holds at least one image file (searched recursively,
    stopping at the first)."""
    return any(
        f.suffix.lower() in extensions and f.is_file()
        for f in pathlib.Path(folder).expanduser().rglob("*")
    )
