"""The NICE recipe (settings: `registry.RECIPES["nice"]`).

keras-flows train nice --epochs 30 --out runs/nice
"""

import pathlib

from keras_flows import quality, viz
from keras_flows.data import load_mnist
from keras_flows.models import NICE
from keras_flows.models.base import LOG_2PI, dequantize_data
from keras_flows.recipes.common import (
    compiled,
    held_out_likelihood,
    load_digits,
    train_and_draw,
    write_metrics,
)
from keras_flows.recipes.registry import takes_defaults


@takes_defaults("nice")
def train(
    *,
    epochs,
    batch_size,
    out,
    data,
    noise,
    hidden_units,
    hidden_layers,
    learning_rate,
    temperature,
    grid,
    limit,
    patience,
    seed,
    resume,
    verbose,
    precision,
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
    model = compiled(
        lambda: NICE(
            hidden_units=hidden_units,
            hidden_layers=hidden_layers,
            noise=noise,
            seed=seed,
        ),
        seed,
        precision,
        learning_rate,
    )
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
