"""The RealNVP two-moons recipe: `keras-flows train realnvp` (settings:
`registry.RECIPES["realnvp"]`); its held-out NLL is on 2,000 fresh points."""

import json
import pathlib

import keras
import numpy as np

from keras_flows.checks import check_finite
from keras_flows.data import Standardization, load_moons
from keras_flows.models.realnvp import RealNVP
from keras_flows.recipes.common import compiled
from keras_flows.recipes.registry import takes_defaults
from keras_flows.training import train as train_run
from keras_flows.training.precision import float32_copy
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
    """`n` fresh moons (seed `seed + 1`), standardised with the training `stats`."""
    raw, _ = load_moons(n, NOISE, seed=seed + 1, standardize=False)
    return stats.apply(raw)


@takes_defaults("realnvp")
def train(*, epochs, batch_size, out, data, limit, n, coupling_layers, coupling_dim,
          learning_rate, seed, resume, verbose, precision):  # fmt: skip
    """Trains RealNVP (see `RealNVP`) and writes the run folder `out`; returns the
    metrics. `data`: `None` for fresh moons, or an `(n, 2)` array or `.npy` path of
    points in original units; the held-out moons are drawn with `seed + 1`."""
    out = pathlib.Path(out)
    x, stats = _load(data, n, seed)
    x = x[: limit or None]
    build = lambda: RealNVP(coupling_layers=coupling_layers, coupling_dim=coupling_dim)
    model = compiled(build, seed, precision, learning_rate)
    fit = dict(epochs=epochs, batch_size=batch_size, resume=resume, verbose=verbose)
    result = train_run(model, x, out, validation_split=0.2, **fit)
    model = float32_copy(model)  # with the best val_loss weights
    x_test = held_out_points(stats, seed)
    nll = model.nll(x_test)
    metrics = {
        "test_nll_nats": nll,
        "test_nll_nats_original_units": float(stats.nll_to_original_units(nll)),
        "test_size": len(x_test),
        "train_size": int(len(x) * 0.8),
        "final_loss": float(result.history.history["loss"][-1]),
        "final_val_loss": float(result.history.history["val_loss"][-1]),
        "best_val_loss": result.guard.best,
        "train_seconds": float(sum(result.timer.seconds)),
        "backend": keras.backend.backend(),
        **result.summary(),
    }
    write_figures(model, x, out)
    write_json(out / "metrics.json", metrics)
    return metrics


def write_figures(model, x, out):
    """Writes `loss.png`, `moons.png`, `density.png`, `temperatures.png` to `out`."""
    from keras_flows.viz import moons

    out = pathlib.Path(out)
    history = json.loads((out / "history.json").read_text())
    moons.plot_loss(history).savefig(out / "loss.png", dpi=80)
    moons.moons_figure(model, x).savefig(out / "moons.png", dpi=80)
    moons.density_figure(model, x).savefig(out / "density.png", dpi=80)
    moons.temperature_figure(model).savefig(out / "temperatures.png", dpi=80)
