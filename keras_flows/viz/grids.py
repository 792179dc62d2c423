"""Image grids of samples: uint8 arrays, written as PNG with imageio."""

import imageio.v3 as iio
import numpy as np

from keras_flows.checks import check_temperature


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


def images_to_grid(model, x, rows, cols, path=None):
    """Tiles data-space samples `x` of `model` into a uint8 grid (PNG if `path`)."""
    shape, data_range = _image_model(model)
    images = np.asarray(x).reshape(-1, *shape)
    return _write(tile(to_uint8(images, data_range), rows, cols), path)


def sample_grid(model, rows=15, cols=15, temperature=0.75, seed=None, path=None):
    """A `rows x cols` grid of samples drawn at `temperature`.

    Defaults are the NICE post's 15x15 grid at T = 0.75; Glow and f-VAE use 9x9
    at 0.9 / 0.8. Returns the uint8 image (H, W) or (H, W, 3); writes a PNG with
    imageio when `path` is given.
    """
    x = model.sample(rows * cols, temperature=temperature, seed=seed)
    return images_to_grid(model, x, rows, cols, path)


def temperature_sweep(
    model, temperatures=(0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0), num=8, seed=0, path=None
):
    """One row of `num` samples per temperature, from the same latent noise, so
    each column shows one draw shrinking towards the mode as T falls."""
    temperatures = [check_temperature(t) for t in temperatures]
    rng = np.random.default_rng(seed)
    shapes = [tuple(z.shape[1:]) for z in model.decoder.inputs]
    noise = [rng.standard_normal((num, *s)).astype("float32") for s in shapes]
    rows = []
    for t in temperatures:
        zs = [t * n for n in noise]
        rows.append(model.decode(zs[0] if len(zs) == 1 else zs))
    x = np.clip(np.concatenate(rows), *(model.data_range or (-np.inf, np.inf)))
    return images_to_grid(model, x, len(temperatures), num, path)


def interpolation_grid(model, x_a, x_b, steps=9, path=None):
    """Rows of images decoded along the straight line between the latent codes of
    `x_a[i]` and `x_b[i]` (one row per pair; ends are the reconstructions)."""
    z_a, z_b = model.encode(np.asarray(x_a)), model.encode(np.asarray(x_b))
    weights = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None, None]
    z = (1 - weights) * z_a[None] + weights * z_b[None]  # (steps, pairs, D)
    z = z.transpose(1, 0, 2).reshape(-1, z_a.shape[-1])  # (pairs * steps, D)
    x = np.clip(model.decode(z), *(model.data_range or (-np.inf, np.inf)))
    return images_to_grid(model, x, len(z_a), steps, path)


def reconstruction_grid(model, x, path=None):
    """Two rows: the images `x`, then `model.reconstruct(x)` (the same images for
    an exact flow; a visible difference means a numerical problem)."""
    x = np.asarray(x)
    x_hat = np.clip(model.reconstruct(x), *(model.data_range or (-np.inf, np.inf)))
    return images_to_grid(model, np.concatenate([x, x_hat]), 2, len(x), path)
