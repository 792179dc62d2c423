"""Input checks shared by the models, loaders and the command line: each raises a
`ValueError` worded the Keras way, before anything is computed or written."""

import math

import numpy as np


def is_int(value):
    """Whether `value` is an integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_image_args(size, channels):
    """Checks an image loader's `size` (a positive integer) and `channels` (1 for
    grayscale, 3 for RGB)."""
    if not is_int(size) or size < 1:
        raise ValueError(f"`size` must be a positive integer. Received: size={size!r}")
    if channels not in (1, 3):
        raise ValueError(
            "`channels` must be 1 (grayscale) or 3 (RGB). "
            f"Received: channels={channels!r}"
        )


def check_finite(x, name="x"):
    """Returns `x` after checking it holds no NaN or inf; `name` names it."""
    num_bad = int(np.count_nonzero(~np.isfinite(x)))
    if num_bad:
        raise ValueError(
            f"`{name}` contains NaN or inf values at {num_bad} positions; "
            "clean the data before training."
        )
    return x


def check_temperature(temperature):
    """Returns `temperature`, the std of the prior draw (0: the deterministic mode),
    as a float after checking it is a finite number >= 0."""
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


def check_n_bits(n_bits, owner):
    """Returns `n_bits` after checking it is an integer from 1 to 8 (bits per
    pixel); `owner` names the class in the message."""
    if not is_int(n_bits) or not 1 <= n_bits <= 8:
        raise ValueError(
            f"`{owner}` needs n_bits between 1 and 8. Received: n_bits={n_bits!r}"
        )
    return int(n_bits)


def check_sizes(owner, minimum=1, **sizes):
    """Checks that every keyword is an integer >= `minimum` (levels, depths,
    widths); `owner` names the class in the message."""
    for arg, value in sizes.items():
        if not is_int(value) or value < minimum:
            raise ValueError(
                f"`{owner}` needs {arg} >= {minimum}. Received: {arg}={value!r}"
            )


def check_image_shape(input_shape, owner):
    """Returns `input_shape` as a tuple after checking it is `(height, width,
    channels)` of positive integers."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or not all(is_int(d) and d > 0 for d in input_shape):
        raise ValueError(
            f"`{owner}` needs input_shape=(height, width, channels) of positive "
            f"integers. Received: input_shape={input_shape}"
        )
    return tuple(int(d) for d in input_shape)
