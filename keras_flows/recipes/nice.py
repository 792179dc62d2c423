"""NICE on MNIST: Adam 1e-3, batch 128, 30 epochs, best val_loss weights,
15x15 sample grids at T = 0.75.

    keras-flows train nice --epochs 30 --out runs/nice
"""

import pathlib

import keras

from keras_flows import quality, viz
from keras_flows.data import load_mnist
from keras_flows.models import NICE
from keras_flows.models.base import LOG_2PI, dequantize_data
from keras_flows.recipes.common import (
    held_out_likelihood,
    load_digits,
    train_and_draw,
    write_metrics,
)
from keras_flows.training.precision import policy_scope

COST = (
    "about 3 min on 2 CPU cores: 30 epochs of 5 s on the 4,000-digit offline "
    "sample (the full MNIST is 15x more per epoch)"
)


def train(
    epochs=30,
    batch_size=128,
    out="runs/nice",
    data=None,
    noise="blog",
    hidden_units=1000,
    hidden_layers=5,
    learning_rate=1e-3,
    temperature=0.75,
    grid=15,
    limit=None,
    patience=None,
    seed=0,
    resume=False,
    verbose=1,
    precision="float32",
):
    """Trains NICE and writes the run folder `out`; returns the metrics dict.

    Args:
        data: an `mnist.npz` path; default `load_mnist()`.
        noise: `"blog"` or `"dequantize"` (see `NICE`).
        limit: use only the first `limit` training digits (smoke runs).
        patience: epochs without a better `val_loss` before stopping (`None`: never).
        resume: continue the run in `out` (see `keras_flows.training.train`).
        precision: "float32", "bfloat16", "float16" (Keras' mixed precision) or
            "auto" (`resolve_precision`); evaluation and pictures are float32.
    """
    out = pathlib.Path(out)
    x_train, x_test = load_digits(lambda: load_mnist(path=data), limit, batch_size)
    keras.utils.set_random_seed(seed)
    with policy_scope(precision):
        model = NICE(
            hidden_units=hidden_units,
            hidden_layers=hidden_layers,
            noise=noise,
            seed=seed,
        )
        model.compile(keras.optimizers.Adam(learning_rate))
    model, result = train_and_draw(
        model,
        x_train,
        out,
        grid,
        temperature,
        epochs=epochs,
        batch_size=batch_size,
        # Dequantised once, as `evaluate` scores them: val_loss = test_nll_nats.
        validation_data=dequantize_data(x_test, model.data_range, model.n_bits)[0],
        patience=patience,
        resume=resume,
        verbose=verbose,
    )
    viz.temperature_sweep(model, path=out / "temperatures.png")
    held_out = dict(**evaluate(model, x_test), test_size=len(x_test))
    held_out.update(quality.judge_samples(model, x_test, temperature))
    return write_metrics(out, model, result, x_train, **held_out)


def evaluate(model, x):
    """Test-set numbers at the test digits `x`, dequantised as `val_loss` sees
    them: NLL (nats), the blog's loss (without the constant `0.5 D log 2 pi`)
    and bits/dim (a bound only for noise="dequantize" training, see `NICE`)."""
    numbers = held_out_likelihood(model, x)
    constant = 0.5 * x.shape[1] * LOG_2PI
    blog_loss = numbers["test_nll_nats"] - constant
    return dict(**numbers, test_blog_loss=blog_loss, nll_constant=constant)


if __name__ == "__main__":
    import sys

    from keras_flows.cli import main

    main(["train", "nice", *sys.argv[1:]])
