"""What the image recipes (Glow, f-VAE) share: the data (an image folder, streamed,
or the MNIST stand-in), the `training.train` arguments that depend on it, and the
pictures written after training."""

import warnings

import keras
import numpy as np

from keras_flows import viz
from keras_flows.data import (
    ImageFolder,
    MNISTFallbackWarning,
    load_image_folder,
    load_mnist_images,
    mnist_fallback_warning,
)
from keras_flows.labelled import load_class_folders
from keras_flows.models.base import dequantize_data
from keras_flows.training.run_folder import write_json

VALIDATION_SIZE = 500


def load_data(data, image_size, batch_size, limit, seed, workers=1, model="Glow"):
    """`(x_train, x_val, image_shape)`: the stand-in in RAM, or a streamed folder
    whose last `VALIDATION_SIZE` sorted files are held out. `model` names the
    model in the stand-in's warning."""
    if data is None:
        x_train, x_val = load_digits(
            lambda: load_mnist_images(size=image_size or 32),
            limit,
            batch_size,
            note=f"No --data folder: training {model} on the MNIST stand-in "
            "(digits padded to 32x32, in [-1, 1]), not on CelebA.",
        )
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


def load_digits(load, limit, batch_size, note=""):
    """`load()`'s `(x_train, x_val)` (an MNIST loader), cut to the first `limit`
    training and `max(limit // 4, batch_size)` held-out digits when `limit`.
    `note` and the offline fallback's warning become one warning line that
    gives the sizes actually used."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x_train, x_val = load()
    if limit:
        x_train, x_val = x_train[:limit], x_val[: max(limit // 4, batch_size)]
    sizes = len(x_train), len(x_val)
    fallback = None
    for w in caught:
        if issubclass(w.category, MNISTFallbackWarning):
            fallback = w.message
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if fallback is not None:
        warnings.warn(
            mnist_fallback_warning(fallback.reason, *sizes, note), stacklevel=3
        )
    elif note:
        warnings.warn(f"{note} {sizes[0]} train / {sizes[1]} held out.", stacklevel=3)
    return x_train, x_val


def load_labelled(data, image_size, batch_size, limit, seed, model="Glow"):
    """`((x_train, y_train), (x_val, y_val), class_names)` for a
    class-conditional model: the MNIST stand-in with its digit classes (cut to
    `limit` as `load_digits` does, with its one warning line), or a folder with
    one sub-folder of images per class, in RAM, whose last `VALIDATION_SIZE`
    (at most a tenth) images after a seeded shuffle are held out."""
    if data is not None:
        x, y, names = load_class_folders(data, image_size or 64)
        order = np.random.default_rng(seed).permutation(len(x))
        held_out = min(VALIDATION_SIZE, len(x) // 10)
        train, val = order[: len(x) - held_out][:limit], order[len(x) - held_out :]
        held = (x[val], y[val]) if held_out else (None, None)  # under 10 images
        return (x[train], y[train]), held, names
    labels = {}

    def load():
        (x_train, labels["train"]), (x_val, labels["val"]) = load_mnist_images(
            size=image_size or 32, with_labels=True
        )
        return x_train, x_val

    x_train, x_val = load_digits(
        load,
        limit,
        batch_size,
        note=f"Training a class-conditional {model} on the labelled MNIST "
        "stand-in (digits padded to 32x32, in [-1, 1]).",
    )
    train = (x_train, labels["train"][: len(x_train)])
    return train, (x_val, labels["val"][: len(x_val)]), [str(k) for k in range(10)]


def held_out_likelihood(model, x, labels=None, confusion=None, names=None):
    """`test_nll_nats` and `test_bits_per_dim` of a flow at the same points: the
    held-out data dequantised once (seeded, `dequantize_data`, as `val_loss`
    sees them), so each number converts into the other. With `labels` (a
    class-conditional model), of `x` given its class, `test_accuracy` of the
    generative classifier at the same points, and `samples_recognised`: how
    often it takes the model's own samples (10 a class, T = 0.7) for the class
    they were drawn as; its confusion matrix is written to the PNG `confusion`
    when given, the classes called `names`."""
    x = dequantize_data(x, model.data_range, model.n_bits)[0]
    numbers = dict(
        test_nll_nats=float(-model.log_prob(x, labels).mean()),
        test_bits_per_dim=float(model.bits_per_dim(x, labels, dequantize=False).mean()),
    )
    if labels is not None:
        predicted = model.predict_class(x)
        numbers["test_accuracy"] = float(np.mean(predicted == labels))
        if confusion is not None:
            viz.confusion_figure(model, x, labels, names, confusion, predicted)
        # The model's own samples (10 a class, T = 0.7): drawn as the class asked?
        asked = np.repeat(np.arange(model.num_classes), 10)
        drawn = model.sample(len(asked), 0.7, seed=0, labels=asked)
        numbers["samples_recognised"] = float(
            np.mean(model.predict_class(drawn) == asked)
        )
    return numbers


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


def write_metrics(out, model, result, x_train, **held_out):
    """`metrics.json` in `out`: the backend, the parameter count, the number of
    training images, the held-out numbers given and the run's facts
    (`TrainResult.summary()`); returns them."""
    metrics = {"backend": keras.backend.backend(), "parameters": model.count_params()}
    metrics["train_size"] = (
        len(x_train.files) if isinstance(x_train, ImageFolder) else len(x_train)
    )
    metrics.update(held_out)
    metrics.update(result.summary())
    write_json(out / "metrics.json", metrics)
    return metrics
