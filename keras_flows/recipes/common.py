"""What the recipes share: the data (an image folder or the MNIST stand-in), the
training with a sample grid each epoch, and the pictures and metrics after it."""

import warnings

import keras
import numpy as np

from keras_flows import quality, viz
from keras_flows.data import (
    ImageFolder,
    MNISTFallbackWarning,
    load_image_folder,
    load_mnist_images,
    mnist_fallback_warning,
)
from keras_flows.labelled import load_class_folders
from keras_flows.models.base import dequantize_data
from keras_flows.training import rate_schedule
from keras_flows.training import train as train_run
from keras_flows.training.precision import float32_copy, policy_scope
from keras_flows.training.run_folder import write_json

VALIDATION_SIZE = 500


def load_data(data, image_size, batch_size, limit, seed, model="Glow"):
    """`(x_train, x_val, image_shape)`: the stand-in in RAM, or a streamed folder
    whose last `VALIDATION_SIZE` sorted files (at most a tenth) are held out."""
    if data is None:
        note = (
            f"No --data folder: training {model} on the MNIST stand-in "
            "(digits padded to 32x32, in [-1, 1]), not on CelebA."
        )
        load = lambda: load_mnist_images(size=image_size or 32)
        x_train, x_val = load_digits(load, limit, batch_size, note)
        return x_train, x_val, x_train.shape[1:]
    size = image_size or 64
    n = len(ImageFolder(data, size, batch_size, shuffle=False).files)
    start = n - min(VALIDATION_SIZE, n // 10)  # the first held-out file
    count = start if limit is None else min(limit, n)
    x_train = ImageFolder(data, size, batch_size, seed=seed, limit=count)
    x_val = load_image_folder(data, size, start=start) if start < n else None
    return x_train, x_val, (size, size, 3)


def load_digits(load, limit, batch_size, note=""):
    """`load()`'s MNIST `(x_train, x_val)`, cut to `limit` and `max(limit // 4,
    batch_size)` digits, with `note` and any fallback as one warning with sizes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x_train, x_val = load()
    if limit:
        x_train, x_val = x_train[:limit], x_val[: max(limit // 4, batch_size)]
    sizes = len(x_train), len(x_val)
    message = f"{note} {sizes[0]} train / {sizes[1]} held out." if note else None
    for w in caught:
        if issubclass(w.category, MNISTFallbackWarning):
            message = mnist_fallback_warning(w.message.reason, *sizes, note)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if message is not None:
        warnings.warn(message, stacklevel=3)
    return x_train, x_val


def load_labelled(data, image_size, batch_size, limit, seed):
    """`((x_train, y_train), (x_val, y_val), class_names)`: the labelled stand-in, or
    a folder with a sub-folder of images per class, in RAM, of which the last
    `VALIDATION_SIZE` (at most a tenth) after a seeded shuffle are held out."""
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

    note = (
        "Training a class-conditional Glow on the labelled MNIST stand-in "
        "(digits padded to 32x32, in [-1, 1])."
    )
    x_train, x_val = load_digits(load, limit, batch_size, note)
    train = (x_train, labels["train"][: len(x_train)])
    return train, (x_val, labels["val"][: len(x_val)]), [str(k) for k in range(10)]


def held_out_likelihood(model, x, labels=None, confusion=None, names=None):
    """`test_nll_nats` and `test_bits_per_dim` at `x` dequantised once, as `val_loss`
    sees it (`{}` without `x`); with `labels`, given the class, plus `test_accuracy`
    (a confusion matrix to the PNG `confusion`) and `samples_recognised`."""
    if x is None:
        return {}
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
        asked = np.repeat(np.arange(model.num_classes), 10)
        drawn = model.sample(len(asked), 0.7, seed=0, labels=asked)
        recognised = model.predict_class(drawn) == asked
        numbers["samples_recognised"] = float(np.mean(recognised))
    return numbers


def compiled(build, seed, precision, learning_rate):
    """`build()`'s model, its weights drawn from `seed`, under the `precision`
    policy, compiled with Adam at `learning_rate` (a rate or a schedule)."""
    keras.utils.set_random_seed(seed)
    with policy_scope(precision):
        model = build()
        model.compile(keras.optimizers.Adam(learning_rate))
    return model


def schedule(learning_rate, warmup_steps, decay, x_train, batch_size, epochs):
    """`rate_schedule` with, if `decay`, the run's steps on `x_train` (an array
    or a batched image folder) as the decay steps."""
    steps = len(x_train)
    if isinstance(x_train, np.ndarray):
        steps = -(-steps // batch_size)
    return rate_schedule(learning_rate, warmup_steps, epochs * steps if decay else None)


def train_and_draw(model, x, x_val, out, grid, temperature, names=None, **options):
    """`training.train` validated on `x_val` (labels: `y_val` in `options`)
    dequantised once, so `val_loss` is the held-out bound, with a `grid x grid` sample
    grid (one row per class of `names`) each epoch, then `samples.png`; returns the
    float32 model and result."""
    y_val = options.pop("y_val", None)
    if x_val is not None:
        x_val = dequantize_data(x_val, model.data_range, model.n_bits)[0]
        x_val = x_val if y_val is None else (x_val, y_val)
    if not isinstance(x, np.ndarray):
        options["batch_size"] = None  # an image folder batches itself

    def picture(model, path):
        if names is not None:
            viz.class_grid(model, grid, temperature, 0, path, names)
        else:
            viz.sample_grid(model, grid, grid, temperature, seed=0, path=path)

    result = train_run(model, x, out, picture=picture, validation_data=x_val, **options)
    model = float32_copy(model)
    picture(model, out / "samples.png")
    return model, result


def write_pictures(model, x_train, x_val, out, grid=9):
    """Writes an image model's `temperatures.png`, `reconstructions.png`,
    `interpolation.png` and `corners.png` into `out`, of held-out images if enough."""
    viz.temperature_sweep(model, num=grid, path=out / "temperatures.png")
    if x_val is not None and len(x_val) >= 6:
        pool = x_val
    else:
        pool = x_train[:grid] if isinstance(x_train, np.ndarray) else x_train.take(grid)
    viz.reconstruction_grid(model, pool[:grid], path=out / "reconstructions.png")
    pairs = min(3, len(pool) // 2)
    x_a, x_b = pool[:pairs], pool[pairs : 2 * pairs]
    viz.interpolation_grid(model, x_a, x_b, steps=grid, path=out / "interpolation.png")
    if len(pool) >= 4 and grid >= 2:
        # Four other images than the pairs' when there are enough.
        viz.corner_interpolation_grid(
            model, pool[-4:], steps=grid, path=out / "corners.png"
        )


def write_metrics(out, model, result, x_train, x_val, judge_at=None, **held_out):
    """Writes and returns `metrics.json`: the backend, the sizes, the `held_out`
    numbers if there is an `x_val`, with `quality.judge_samples` against those
    digits at temperature `judge_at` if given, and `result.summary()`."""
    metrics = {"backend": keras.backend.backend(), "parameters": model.count_params()}
    metrics["train_size"] = len(getattr(x_train, "files", x_train))  # files: a folder
    if x_val is not None:
        metrics.update(held_out, test_size=len(x_val))
        if judge_at is not None:
            metrics.update(quality.judge_samples(model, x_val, judge_at))
    metrics.update(result.summary())
    write_json(out / "metrics.json", metrics)
    return metrics
