"""What the image recipes (Glow, f-VAE) share: the data (an image folder, streamed,
or the MNIST stand-in), the `training.train` arguments that depend on it, and the
pictures written after training."""

import warnings

import keras
import numpy as np

from keras_flows import viz
from keras_flows.data import ImageFolder, load_image_folder, load_mnist_images
from keras_flows.models.base import dequantize_data
from keras_flows.training.run_folder import write_json

VALIDATION_SIZE = 500


def load_data(data, image_size, batch_size, limit, seed, workers=1, model="Glow"):
    """`(x_train, x_val, image_shape)`: the stand-in in RAM, or a streamed folder
    whose last `VALIDATION_SIZE` sorted files are held out. `model` names the
    model in the stand-in's warning."""
    if data is None:
        warnings.warn(
            f"No --data folder: training {model} on the MNIST stand-in (5,000 real "
            "digits padded to 32x32, in [-1, 1]), not on CelebA.",
            stacklevel=2,
        )
        x_train, x_val = load_mnist_images(size=image_size or 32)
        if limit:
            x_train, x_val = x_train[:limit], x_val[: max(limit // 4, batch_size)]
        return x_train, x_val, x_train.shape[1:]
    size = image_size or 64
    files = ImageFolder(data, size, batch_size, shuffle=False).files
    held_out = min(VALIDATION_SIZE, len(files) // 10)
    train_count = len(files) - held_out if limit is None else min(limit, len(files))
    x_train = ImageFolder(
        data, size, batch_size, seed=seed, limit=train_count, workers=workers
    )
    x_val = (
        load_image_folder(data, size, start=len(files) - held_out) if held_out else None
    )
    return x_train, x_val, (size, size, 3)


def fit_data(model, x_train, x_val, batch_size):
    """The `batch_size` and `validation_data` arguments of `training.train`.

    A streamed folder batches itself, so `batch_size` is `None` for it. The
    held-out images are dequantised once (seeded), as the model dequantises its
    training data, so `val_loss` is the same bound as the held-out bits/dim.
    """
    return dict(
        batch_size=batch_size if isinstance(x_train, np.ndarray) else None,
        validation_data=None
        if x_val is None
        else dequantize_data(x_val, model.data_range, model.n_bits)[0],
    )


def write_pictures(model, x_train, x_val, out, grid=9):
    """The temperature sweep, reconstructions, interpolations between pairs of
    images and the four-corner interpolation of an image model, into `out`:
    `temperatures.png`, `reconstructions.png`, `interpolation.png`,
    `corners.png`. Held-out images when there are enough, else training ones."""
    viz.temperature_sweep(model, num=grid, path=out / "temperatures.png")
    if x_val is not None and len(x_val) >= 6:
        pool = x_val
    else:
        pool = x_train[:grid] if isinstance(x_train, np.ndarray) else x_train.take(grid)
    viz.reconstruction_grid(model, pool[:grid], path=out / "reconstructions.png")
    pairs = min(3, len(pool) // 2)
    viz.interpolation_grid(
        model,
        pool[:pairs],
        pool[pairs : 2 * pairs],
        steps=grid,
        path=out / "interpolation.png",
    )
    if len(pool) >= 4 and grid >= 2:
        # Four other images than the pairs' when there are enough.
        viz.corner_interpolation_grid(
            model, pool[-4:], steps=grid, path=out / "corners.png"
        )


def write_metrics(out, model, result, **held_out):
    """`metrics.json` in `out`: the backend, the parameter count, the held-out
    numbers given and the run's facts (`TrainResult.summary()`); returns them."""
    metrics = {"backend": keras.backend.backend(), "parameters": model.count_params()}
    metrics.update(held_out)
    metrics.update(result.summary())
    write_json(out / "metrics.json", metrics)
    return metrics
