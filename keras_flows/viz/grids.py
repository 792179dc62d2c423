"""Image grids of samples: uint8 arrays, written as PNG with imageio.

By default each grid says what it shows: a white margin with a title line and,
where the rows differ (temperatures, data vs reconstruction), a label at the left
of each row, drawn with Pillow (no matplotlib needed). Small grids are enlarged
by an integer nearest-neighbour factor first so the text and the images stay
readable together. `labels=False` returns the bare tiling, `rows*H x cols*W`.
"""

import math

import imageio.v3 as iio
import numpy as np

from keras_flows.checks import check_temperature

FONT_SIZE = 14
MIN_WIDTH = 400  # grids narrower than this are enlarged...
MAX_CELL = 128  # ...but no image beyond this many pixels
_PAD = 6
_BACKGROUND, _INK = 255, 0


def to_uint8(x, data_range=(0.0, 1.0)):
    """Maps images in `data_range` to uint8, clipping: `clip(x * 255)` for [0, 1]
    data, `clip((x + 1) / 2 * 255)` for [-1, 1]."""
    low, high = data_range
    x = (np.asarray(x, dtype="float64") - low) / (high - low) * 255
    return np.clip(np.round(x), 0, 255).astype("uint8")


def tile(images, rows, cols):
    """Tiles `rows * cols` images `(n, H, W, C)` into one `(rows*H, cols*W, C)`."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"`tile` needs rows * cols images. Received: {n} images")
    grid = images.reshape(rows, cols, h, w, c)  # (rows, cols, H, W, C)
    grid = grid.transpose(0, 2, 1, 3, 4)  # (rows, H, cols, W, C)
    return grid.reshape(rows * h, cols * w, c)  # (rows*H, cols*W, C)


def _font(size=FONT_SIZE):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable: Pillow >= 10.1
    except (TypeError, ImportError):  # older Pillow or no FreeType: 11-px bitmap
        return ImageFont.load_default()


def _text_size(font, text):
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def upscale_factor(grid_width, cell_size):
    """The nearest-neighbour factor for a grid `grid_width` pixels wide of images
    `cell_size` pixels: 1 from `MIN_WIDTH` on (a 15x15 grid of 28-px digits stays
    as it is), else enough to reach `MIN_WIDTH` without images beyond `MAX_CELL`."""
    if grid_width >= MIN_WIDTH:
        return 1
    return max(1, min(math.ceil(MIN_WIDTH / grid_width), MAX_CELL // cell_size))


def label_grid(grid, rows, cols, title, row_labels=None, col_labels=None):
    """Adds a white margin with text to a bare grid of `rows x cols` images.

    Args:
        grid: the uint8 tiling `(rows*H, cols*W[, C])`.
        rows, cols: how many images it holds per column and per row.
        title: the line written above the grid.
        row_labels: `None` or one string per row, written at its left.
        col_labels: `None` or `{column index: string}`, written above the columns.

    Returns:
        The labelled uint8 image, grey or RGB as `grid` (enlarged by
        `upscale_factor` when small).
    """
    from PIL import Image, ImageDraw

    grid = np.asarray(grid)
    if grid.ndim == 3 and grid.shape[-1] == 1:
        grid = grid[..., 0]
    cell_h, cell_w = grid.shape[0] // rows, grid.shape[1] // cols
    factor = upscale_factor(grid.shape[1], max(cell_h, cell_w))
    grid = grid.repeat(factor, axis=0).repeat(factor, axis=1)
    cell_h, cell_w = cell_h * factor, cell_w * factor

    font = _font()
    line = _text_size(font, "Tg")[1] + 2 * _PAD  # height of one text line
    left = 0
    if row_labels:
        left = max(_text_size(font, text)[0] for text in row_labels) + 2 * _PAD
    top = line + (line if col_labels else 0)
    width = max(left + grid.shape[1], _text_size(font, title)[0] + 2 * _PAD)

    mode = "L" if grid.ndim == 2 else "RGB"
    paper, ink = (
        (_BACKGROUND, _INK) if mode == "L" else ((_BACKGROUND,) * 3, (_INK,) * 3)
    )
    canvas = Image.new(mode, (width, top + grid.shape[0]), paper)
    canvas.paste(Image.fromarray(grid, mode), (left, top))
    draw = ImageDraw.Draw(canvas)

    def write(text, x, y, align):
        # Places `text` with its left / centre / right at `x` and the middle of a
        # "Tg" line at `y` (by hand: bitmap fonts take no `anchor`).
        left_, _, right, _ = font.getbbox(text)
        _, ascent, _, descent = font.getbbox("Tg")
        x -= {"left": left_, "centre": (left_ + right) // 2, "right": right}[align]
        draw.text((x, y - (ascent + descent) // 2), text, font=font, fill=ink)

    write(title, _PAD, line // 2, "left")
    for i, text in enumerate(row_labels or ()):
        write(text, left - _PAD, top + i * cell_h + cell_h // 2, "right")
    for j, text in (col_labels or {}).items():
        write(text, left + j * cell_w + cell_w // 2, line + line // 2, "centre")
    return np.asarray(canvas)


def _image_model(model):
    if getattr(model, "image_shape", None) is None:
        raise ValueError(
            "Sample grids need an image model (one with `image_shape`). "
            f"Received: {type(model).__name__} with image_shape=None"
        )
    return model.image_shape, model.data_range or (0.0, 1.0)


def _write(grid, path):
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    if path is not None:
        iio.imwrite(path, grid)
    return grid


def images_to_grid(
    model, x, rows, cols, path=None, title=None, row_labels=None, col_labels=None
):
    """Tiles data-space samples `x` of `model` into a uint8 grid (PNG if `path`);
    with a `title`, labelled by `label_grid`, else bare."""
    shape, data_range = _image_model(model)
    images = np.asarray(x).reshape(-1, *shape)
    grid = tile(to_uint8(images, data_range), rows, cols)
    if title is not None:
        grid = label_grid(grid, rows, cols, title, row_labels, col_labels)
    return _write(grid, path)


def _name(model):
    return type(model).__name__


def sample_grid(
    model,
    rows=15,
    cols=15,
    temperature=0.75,
    seed=None,
    path=None,
    title=None,
    labels=True,
):
    """A `rows x cols` grid of samples drawn at `temperature`.

    Defaults are the NICE post's 15x15 grid at T = 0.75; Glow and f-VAE use 9x9
    at 0.9 / 0.8. Returns the uint8 image (H, W) or (H, W, 3); writes a PNG with
    imageio when `path` is given.

    Args:
        title: the line above the grid; default e.g.
            "NICE samples, T = 0.75, 15x15".
        labels: `False` for the bare `rows*H x cols*W` tiling, no text.
    """
    temperature = check_temperature(temperature)
    x = model.sample(rows * cols, temperature=temperature, seed=seed)
    if labels and title is None:
        title = f"{_name(model)} samples, T = {temperature:g}, {rows}x{cols}"
    return images_to_grid(model, x, rows, cols, path, title if labels else None)


def temperature_sweep(
    model,
    temperatures=(0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    num=8,
    seed=0,
    path=None,
    title=None,
    labels=True,
):
    """One row of `num` samples per temperature, from the same latent noise, so
    each column shows one draw shrinking towards the mode as T falls.

    Args:
        title: the line above the grid; each row is labelled "T = ..." at its left.
        labels: `False` for the bare tiling, no text.
    """
    temperatures = [check_temperature(t) for t in temperatures]
    # One seed for every row: the same noise, scaled by each temperature.
    x = np.concatenate([model.sample(num, t, seed=seed) for t in temperatures])
    if not labels:
        return images_to_grid(model, x, len(temperatures), num, path)
    if title is None:
        title = f"{_name(model)} samples by temperature (same noise in each column)"
    row_labels = [f"T = {t:g}" for t in temperatures]
    return images_to_grid(model, x, len(temperatures), num, path, title, row_labels)


def interpolation_grid(model, x_a, x_b, steps=9, path=None, title=None, labels=True):
    """Rows of images decoded along the straight line between the latent codes of
    `x_a[i]` and `x_b[i]` (one row per pair; ends are the reconstructions).

    Args:
        title: the line above the grid; the first and last columns are headed
            "x_a" and "x_b".
        labels: `False` for the bare tiling, no text.
    """
    x = model.interpolate(np.asarray(x_a), np.asarray(x_b), steps)
    pairs = x.size // (steps * math.prod(model.sample_shape))
    if not labels:
        return images_to_grid(model, x, pairs, steps, path)
    if title is None:
        title = f"{_name(model)} latent interpolation x_a -> x_b, {steps} steps"
    heads = {0: "x_a", steps - 1: "x_b"}
    return images_to_grid(model, x, pairs, steps, path, title, col_labels=heads)


def corner_interpolation_grid(
    model, corners, steps=9, path=None, title=None, labels=True
):
    """A `steps x steps` grid decoded from the bilinear blend of the latent codes
    of four images (the f-VAE post's four-corner figure): the corners are their
    reconstructions, the edges the straight lines between neighbouring corners.

    Args:
        corners: the four images, top left, top right, bottom left, bottom right
            (`(4, ...)`, as `model.encode` takes them).
        steps: images per side, corners included (at least 2).
        title: the line above the grid; the top row is labelled "x1 -> x2" and the
            bottom row "x3 -> x4" at their left (x1..x4: the corners in order).
        labels: `False` for the bare tiling, no text.
    """
    corners = np.asarray(corners)
    if len(corners) != 4:
        raise ValueError(
            "`corner_interpolation_grid` needs four corner images. "
            f"Received: {len(corners)} images"
        )
    x = model.interpolate_corners(*corners, steps=steps)  # checks steps
    if not labels:
        return images_to_grid(model, x, steps, steps, path)
    if title is None:
        title = (
            f"{_name(model)} latent interpolation between 4 images (corners: "
            f"their reconstructions), {steps}x{steps}"
        )
    row_labels = ["x1 -> x2", *[""] * (steps - 2), "x3 -> x4"]
    return images_to_grid(model, x, steps, steps, path, title, row_labels)


def reconstruction_grid(model, x, path=None, title=None, labels=True):
    """Two rows: the images `x`, then `model.reconstruct(x)` (the same images for
    an exact flow, where a visible difference means a numerical problem; for
    f-VAE, `G(E(x))`).

    Args:
        title: the line above the grid; the rows are labelled "data" and
            "reconstruction".
        labels: `False` for the bare tiling, no text.
    """
    x = np.asarray(x)
    both = np.concatenate([x, model.reconstruct(x)])
    if not labels:
        return images_to_grid(model, both, 2, len(x), path)
    if title is None:
        if model.exact_likelihood:
            title = (
                f"{_name(model)} reconstructions f^-1(f(x)) (exact flow: rows match)"
            )
        else:  # a VAE decodes the posterior mean: a blurred copy, not the data
            title = f"{_name(model)} reconstructions (posterior mean, decoded)"
    row_labels = ["data", "reconstruction"]
    return images_to_grid(model, both, 2, len(x), path, title, row_labels)


def class_grid(model, cols=10, temperature=0.7, seed=0, path=None, names=None):
    """One row per class of a class-conditional model: `cols` samples of that
    class at `temperature` (the same noise in every row), each row labelled
    with its class (`names`, default the class number)."""
    temperature = check_temperature(temperature)
    k = model.num_classes
    if k is None:
        raise ValueError("`class_grid` needs a class-conditional model (num_classes).")
    # The same seed, so the same noise, in each row: only the class changes.
    x = np.concatenate(
        [model.sample(cols, temperature, seed=seed, labels=y) for y in range(k)]
    )
    names = [str(y) for y in range(k)] if names is None else list(names)
    title = (
        f"{_name(model)} samples by class, T = {temperature:g}, same noise per column"
    )
    return images_to_grid(model, x, k, cols, path, title, row_labels=names)


def manipulation_grid(model, x, direction, strengths, path=None, title=None):
    """Rows of samples `x` moved along a latent `direction` at each strength
    (`model.manipulate`), the strengths heading the columns."""
    moved = model.manipulate(x, direction, strengths)
    rows = len(np.asarray(x))
    heads = {i: f"{s:+g}" for i, s in enumerate(strengths)}
    title = title or f"{_name(model)}: samples moved along a latent direction"
    return images_to_grid(
        model, moved, rows, len(strengths), path, title, col_labels=heads
    )
