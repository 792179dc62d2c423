"""RealNVP on two moons (the book's chapter 6): 3,000 standardised points,
Adam 1e-4, batch 256, 300 epochs, validation_split 0.2.

    keras-flows train realnvp --epochs 300 --out runs/realnvp

writes into the run folder (besides what `keras_flows.training.train` writes:
the model, its best weights, the history, the resume state): `loss.png`,
`moons.png` (the 2x2 scatter), `density.png`,
`temperatures.png` and `metrics.json` (held-out NLL on 2,000 fresh points, in
standardised and original units). matplotlib is imported only when the pictures
are drawn.
"""

import json
import pathlib

import keras
import numpy as np

from keras_flows.checks import check_finite
from keras_flows.data import Standardization, load_moons
from keras_flows.models.realnvp import RealNVP
from keras_flows.training import train as train_run
from keras_flows.training.precision import float32_copy, policy_scope
from keras_flows.training.run_folder import write_json

NOISE = 0.05
TEST_SIZE = 2000


def _load(data, n, seed):
    """Training points (standardised) and the `Standardization` that made them."""
    if data is None:
        return load_moons(n, NOISE, seed=seed)
    points = np.load(data) if isinstance(data, (str, pathlib.Path)) else data
    points = np.asarray(points, "float32")
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            "`train` needs 2-D points of shape (n, 2) in `data`. "
            f"Received: shape={points.shape}"
        )
    check_finite(points, "data")
    stats = Standardization(points.mean(axis=0), points.std(axis=0))
    return stats.apply(points), stats


def held_out_points(stats, seed, n=TEST_SIZE):
    """`n` fresh moons (seed `seed + 1`, never the training seed), standardised
    with the training set's `stats`."""
    raw, _ = load_moons(n, NOISE, seed=seed + 1, standardize=False)
    return stats.apply(raw)


# What a default run costs, measured by bench/recipe_cost.py (docs/results.md,
# "What a run costs").
COST = "about 5 min on 2 CPU cores: 300 epochs of 0.9 s"


def train(
    epochs=300,
    batch_size=256,
    out="runs/realnvp",
    data=None,
    seed=0,
    verbose=1,
    resume=False,
    limit=None,
    n=3000,
    learning_rate=1e-4,
    coupling_layers=6,
    coupling_dim=256,
    precision="float32",
):
    """Trains the book's RealNVP on two moons and writes the run folder `out`.

    Args:
        epochs: training epochs (book: 300).
        batch_size: batch size (book: 256).
        out: the run folder.
        data: `None` for `make_moons(n, noise=0.05, random_state=seed)`, or an
            `(n, 2)` array / `.npy` path of points in original units.
        seed: seed of the data, the weights and the held-out set (`seed + 1`).
        verbose: `fit` verbosity.
        limit: use only the first `limit` points (smoke runs).
        n: number of moons points to draw when `data` is `None`.
        learning_rate: Adam's learning rate (book: 1e-4).
        coupling_layers, coupling_dim: see `RealNVP`.
        resume: continue the run in `out` (see `keras_flows.training.train`).
        precision: "float32", or "bfloat16" / "float16" to train in Keras'
            mixed precision, or "auto" (bfloat16 where it is measured faster:
            `keras_flows.training.precision.resolve_precision`); the held-out
            numbers and pictures after training are computed in float32.

    Returns:
        The metrics dict also written to `metrics.json`.
    """
    out = pathlib.Path(out)
    x, stats = _load(data, n, seed)
    if limit:
        x = x[:limit]
    keras.utils.set_random_seed(seed)
    with policy_scope(precision):
        model = RealNVP(coupling_layers=coupling_layers, coupling_dim=coupling_dim)
        model.compile(keras.optimizers.Adam(learning_rate))
    result = train_run(
        model,
        x,
        out,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=0.2,
        resume=resume,
        verbose=verbose,
    )
    logs = result.history.history
    # The model now holds the best val_loss weights (the guard restores them).
    model = float32_copy(model)
    x_test = held_out_points(stats, seed)
    nll = model.nll(x_test)
    metrics = {
        "test_nll_nats": nll,
        "test_nll_nats_original_units": float(stats.nll_to_original_units(nll)),
        "test_size": len(x_test),
        "train_size": int(len(x) * 0.8),
        "final_loss": float(logs["loss"][-1]),
        "final_val_loss": float(logs["val_loss"][-1]),
        "best_val_loss": result.guard.best,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "seconds_per_epoch": result.timer.steady_seconds_per_epoch,
        "train_seconds": float(sum(result.timer.seconds)),
        "backend": keras.backend.backend(),
        "diverged": result.guard.diverged,
        "precision": result.precision,
    }
    write_figures(model, x, out)
    write_json(out / "metrics.json", metrics)
    return metrics


def write_figures(model, x, out):
    """Writes loss.png, moons.png, density.png and temperatures.png into `out`."""
    from keras_flows.viz import moons

    out = pathlib.Path(out)
    history = json.loads((out / "history.json").read_text())
    figures = {
        "loss.png": moons.plot_loss(history),
        "moons.png": moons.moons_figure(model, x),
        "density.png": moons.density_figure(model, x),
        "temperatures.png": moons.temperature_figure(model),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=80)


if __name__ == "__main__":
    import sys

    from keras_flows.cli import main

    main(["train", "realnvp", *sys.argv[1:]])
