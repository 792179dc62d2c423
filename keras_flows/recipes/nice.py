"""The NICE recipe: `keras-flows train nice` (settings: `registry.RECIPES["nice"]`)."""

import pathlib

from keras_flows import viz
from keras_flows.data import load_mnist
from keras_flows.models import NICE
from keras_flows.models.base import LOG_2PI
from keras_flows.recipes.common import (
    compiled,
    held_out_likelihood,
    load_digits,
    train_and_draw,
    write_metrics,
)
from keras_flows.recipes.registry import takes_defaults


@takes_defaults("nice")
def train(*, epochs, batch_size, out, data, limit, noise, hidden_units,
          hidden_layers, learning_rate, temperature, grid, patience, seed, resume,
          verbose, precision):  # fmt: skip
    """Trains NICE (see `NICE`) on MNIST and writes the run folder `out`; returns
    the metrics dict. `data`: an `mnist.npz` path (default `load_mnist()`)."""
    out = pathlib.Path(out)
    x_train, x_test = load_digits(lambda: load_mnist(path=data), limit, batch_size)
    build = lambda: NICE(
        hidden_units=hidden_units, hidden_layers=hidden_layers, noise=noise, seed=seed
    )
    model = compiled(build, seed, precision, learning_rate)
    fit = dict(epochs=epochs, batch_size=batch_size, resume=resume, verbose=verbose)
    model, result = train_and_draw(
        model, x_train, x_test, out, grid, temperature, patience=patience, **fit
    )
    viz.temperature_sweep(model, path=out / "temperatures.png")
    numbers = evaluate(model, x_test)
    return write_metrics(out, model, result, x_train, x_test, temperature, **numbers)


def evaluate(model, x):
    """`held_out_likelihood` plus the blog's loss: the NLL without the constant
    `0.5 D log 2 pi`."""
    numbers = held_out_likelihood(model, x)
    constant = 0.5 * x.shape[1] * LOG_2PI
    blog_loss = numbers["test_nll_nats"] - constant
    return dict(**numbers, test_blog_loss=blog_loss, nll_constant=constant)
