"""Image grids of samples as uint8 arrays and PNGs, titled and labelled on a white
margin (`labels=False`: the bare tiling)."""

import math

import imageio.v3 as iio
import numpy as np

from keras_flows.checks import check_temperature

MIN_WIDTH = 400  # grids narrower than this are enlarged...
MAX_CELL = 128  # ...but no image beyond this many pixels
_PAD = 6


def to_uint8(x, data_range=(0.0, 1.0)):
    """Maps images in `data_range` (e.g. [0, 1] or [-1, 1]) to uint8, clipping."""
    low, high = data_range
    x = (np.asarray(x, dtype="float64") - low) / (high - low) * 255
    return np.clip(np.round(x), 0, 255).astype("uint8")


def tile(images, rows, cols):
    """Tiles `rows * cols` images `(n, H, W, C)` into one `(rows*H, cols*W, C)`."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"`tile` needs rows * cols images. Received: {n} images")
    grid = images.reshape(rows, cols, h, w, c).swapaxes(1, 2)  # (rows, H, cols, W, C)
    return grid.reshape(rows * h, cols * w, c)  # (rows*H, cols*W, C)


def _font(size=14):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable: Pillow >= 10.1
    except (TypeError, ImportError):  # older Pillow or no FreeType: 11-px bitmap
        return ImageFont.load_default()


def _text_size(font, text):
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def upscale_factor(grid_width, cell_size):
    """Nearest-neighbour factor enlarging a grid to `MIN_WIDTH`, cells to `MAX_CELL`."""
    return max(1, min(math.ceil(MIN_WIDTH / grid_width), MAX_CELL // cell_size))


def label_grid(grid, rows, cols, title, row_labels=None, col_labels=None):
    """The uint8 tiling `grid` of `rows x cols` images with a white margin holding
    a `title` line, `row_labels` (one per row) at the left and `col_labels`
    (`{column: text}`) above, enlarged first by `upscale_factor` when small."""
    from PIL import Image, ImageDraw

    grid = np.asarray(grid)
    grid = grid[..., 0] if grid.ndim == 3 and grid.shape[-1] == 1 else grid
    cell_h, cell_w = grid.shape[0] // rows, grid.shape[1] // cols
    factor = upscale_factor(grid.shape[1], max(cell_h, cell_w))
    grid = grid.repeat(factor, axis=0).repeat(factor, axis=1)
    cell_h, cell_w = cell_h * factor, cell_w * factor

    font = _font()
    _, ascent, _, descent = font.getbbox("Tg")
    line = descent - ascent + 2 * _PAD  # height of one text line
    left = max((_text_size(font, t)[0] + 2 * _PAD for t in row_labels or ()), default=0)
    top = line + (line if col_labels else 0)
    width = max(left + grid.shape[1], _text_size(font, title)[0] + 2 * _PAD)

    mode = "L" if grid.ndim == 2 else "RGB"
    canvas = Image.new(mode, (width, top + grid.shape[0]), "white")
    canvas.paste(Image.fromarray(grid, mode), (left, top))
    draw = ImageDraw.Draw(canvas)

    def write(text, x, y, align):
        # `text` with its left / centre / right at `x`, a "Tg" line's middle at
        # `y` (by hand: bitmap fonts take no `anchor`).
        left_, _, right, _ = font.getbbox(text)
        x -= {"left": left_, "centre": (left_ + right) // 2, "right": right}[align]
        draw.text((x, y - (ascent + descent) // 2), text, font=font, fill="black")

    write(title, _PAD, line // 2, "left")
    for i, text in enumerate(row_labels or ()):
        write(text, left - _PAD, top + i * cell_h + cell_h // 2, "right")
    for j, text in (col_labels or {}).items():
        write(text, left + j * cell_w + cell_w // 2, line + line // 2, "centre")
    return np.asarray(canvas)


def images_to_grid(
    model, x, rows, cols, path=None, title=None, row_labels=None, col_labels=None
):
    """Tiles data-space samples `x` of `model` into a uint8 grid (PNG if `path`);
    with a `title`, labelled by `label_grid`, else bare."""
    if getattr(model, "image_shape", None) is None:
        raise ValueError(
            "Sample grids need an image model (one with `image_shape`). "
            f"Received: {type(model).__name__} with image_shape=None"
        )
    images = np.asarray(x).reshape(-1, *model.image_shape)
    grid = tile(to_uint8(images, model.data_range or (0.0, 1.0)), rows, cols)
    grid = grid[..., 0] if grid.shape[-1] == 1 else grid
    if title is not None:
        grid = label_grid(grid, rows, cols, title, row_labels, col_labels)
    if path is not None:
        iio.imwrite(path, grid)
    return grid


def _title(model, labels, title, default):
    # The line above a grid: `title`, else the model's name and `default`; none if bare.
    if labels:
        return f"{type(model).__name__} {default}" if title is None else title


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
    """A `rows x cols` grid of samples at `temperature`, uint8 `(H, W[, 3])`, written
    to the PNG `path` when given; titled unless `labels=False`."""
    temperature = check_temperature(temperature)
    x = model.sample(rows * cols, temperature=temperature, seed=seed)
    title = _title(model, labels, title, f"samples, T = {temperature:g}, {rows}x{cols}")
    return images_to_grid(model, x, rows, cols, path, title)


def temperature_sweep(
    model,
    temperatures=(0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    num=8,
    seed=0,
    path=None,
    title=None,
    labels=True,
):
    """One row of `num` samples per temperature from the same latent noise: each
    column shrinks towards the mode as T falls. Others as in `sample_grid`."""
    temperatures = [check_temperature(t) for t in temperatures]
    x = np.concatenate([model.sample(num, t, seed=seed) for t in temperatures])
    default = "samples by temperature (same noise in each column)"
    title = _title(model, labels, title, default)
    row_labels = [f"T = {t:g}" for t in temperatures]
    return images_to_grid(model, x, len(temperatures), num, path, title, row_labels)


def interpolation_grid(model, x_a, x_b, steps=9, path=None, title=None, labels=True):
    """One row per pair: images decoded along the line between the latent codes of
    `x_a[i]` and `x_b[i]` (ends: their reconstructions). Others as in `sample_grid`."""
    x = model.interpolate(np.asarray(x_a), np.asarray(x_b), steps)
    pairs = x.size // (steps * math.prod(model.sample_shape))
    default = f"latent interpolation x_a -> x_b, {steps} steps"
    title = _title(model, labels, title, default)
    heads = {0: "x_a", steps - 1: "x_b"}
    return images_to_grid(model, x, pairs, steps, path, title, col_labels=heads)


def corner_interpolation_grid(
    model, corners, steps=9, path=None, title=None, labels=True
):
    """A `steps x steps` grid decoded from the bilinear blend of the latent codes of
    four `corners` (top left, top right, bottom left, bottom right)."""
    corners = np.asarray(corners)
    if len(corners) != 4:
        raise ValueError(
            "`corner_interpolation_grid` needs four corner images. "
            f"Received: {len(corners)} images"
        )
    x = model.interpolate_corners(*corners, steps=steps)  # checks steps
    default = (
        "latent interpolation between 4 images (corners: their reconstructions), "
        f"{steps}x{steps}"
    )
    title = _title(model, labels, title, default)
    row_labels = ["x1 -> x2", *[""] * (steps - 2), "x3 -> x4"]
    return images_to_grid(model, x, steps, steps, path, title, row_labels)


def reconstruction_grid(model, x, path=None, title=None, labels=True):
    """Two rows: the images `x` and `model.reconstruct(x)` (for an exact flow a
    visible difference is a numerical problem). Others as in `sample_grid`."""
    x = np.asarray(x)
    both = np.concatenate([x, model.reconstruct(x)])
    if model.exact_likelihood:
        default = "reconstructions f^-1(f(x)) (exact flow: rows match)"
    else:  # a VAE decodes the posterior mean: a blurred copy, not the data
        default = "reconstructions (posterior mean, decoded)"
    title = _title(model, labels, title, default)
    rows = ["data", "reconstruction"]
    return images_to_grid(model, both, 2, len(x), path, title, rows)


def class_grid(model, cols=10, temperature=0.7, seed=0, path=None, names=None):
    """One row of `cols` samples at `temperature` per class of a class-conditional
    model, labelled with its `names` (default: the class number)."""
    temperature = check_temperature(temperature)
    k = model.num_classes
    if k is None:
        raise ValueError("`class_grid` needs a class-conditional model (num_classes).")
    x = np.concatenate(
        [model.sample(cols, temperature, seed=seed, labels=y) for y in range(k)]
    )
    names = [str(y) for y in range(k)] if names is None else list(names)
    name = type(model).__name__
    title = f"{name} samples by class, T = {temperature:g}, same noise per column"
    return images_to_grid(model, x, k, cols, path, title, row_labels=names)


def manipulation_grid(model, x, direction, strengths, path=None, title=None):
    """Rows of samples `x` moved along a latent `direction` at each strength
    (`model.manipulate`), the strengths heading the columns."""
    moved = model.manipulate(x, direction, strengths)
    heads = {i: f"{s:+g}" for i, s in enumerate(strengths)}
    title = title or f"{type(model).__name__}: samples moved along a latent direction"
    return images_to_grid(
        model, moved, len(np.asarray(x)), len(strengths), path, title, col_labels=heads
    )
