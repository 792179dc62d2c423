"""Input checks shared by the models, loaders and the command line: each raises a
`ValueError` worded the Keras way, before anything is computed or written."""

import math

import numpy as np


def is_int(value):
    """Whether `value` is an integer (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_image_args(size, channels):
    """Checks an image loader's `size` (an integer >= 1) and `channels` (1 or 3)."""
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
    """`n_bits` (bits per pixel) as an int, checked to be 1 to 8 for class `owner`."""
    if not is_int(n_bits) or not 1 <= n_bits <= 8:
        raise ValueError(
            f"`{owner}` needs n_bits between 1 and 8. Received: n_bits={n_bits!r}"
        )
    return int(n_bits)


def check_sizes(owner, minimum=1, **sizes):
    """Checks every keyword (levels, depths, ...) of `owner` is an int >= `minimum`."""
    for arg, value in sizes.items():
        if not is_int(value) or value < minimum:
            raise ValueError(
                f"`{owner}` needs {arg} >= {minimum}. Received: {arg}={value!r}"
            )


def check_image_shape(input_shape, owner):
    """`input_shape` as a tuple, checked to be `(height, width, channels)` > 0."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or not all(is_int(d) and d > 0 for d in input_shape):
        raise ValueError(
            f"`{owner}` needs input_shape=(height, width, channels) of positive "
            f"integers. Received: input_shape={input_shape}"
        )
    return tuple(int(d) for d in input_shape)


def reject(bad, owner, needs, received):
    """Raises "`Owner` needs {needs}. Received: {received}" if `bad`; `owner` is a
    layer (named by its class) or a name."""
    if bad:
        name = owner if isinstance(owner, str) else type(owner).__name__
        raise ValueError(f"`{name}` needs {needs}. Received: {received}")
