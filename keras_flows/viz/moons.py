"""Two-moons pictures for 2-D flows (RealNVP): loss curve, the book's 2x2 scatter,
a density map and samples at several temperatures.

Each function returns a `matplotlib.figure.Figure`; callers save it with
`fig.savefig(path)`. Figures are built with the object-oriented API
(`matplotlib.figure.Figure`, no `pyplot`), so they need no display, leave no
global pyplot state behind, and still show inline in Jupyter. matplotlib is
imported inside the functions: `keras_flows` does not need it to train.
"""

import numpy as np

__all__ = [
    "density_figure",
    "moons_figure",
    "plot_loss",
    "temperature_figure",
]

_POINT = {"s": 2, "alpha": 0.5, "linewidths": 0}


def _figure(**kwargs):
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _check_2d(model, fn):
    dims = tuple(model.encoder.inputs[0].shape[1:])
    if dims != (2,):
        raise ValueError(
            f"`{fn}` draws 2-D flows. Received: a model whose data shape is {dims}"
        )


def plot_loss(history):
    """The training and validation loss (NLL, nats per point) per epoch.

    Args:
        history: the `keras.callbacks.History` returned by `fit`, or its
            `.history` dict.
    """
    logs = getattr(history, "history", history)
    fig = _figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    epochs = np.arange(1, len(logs["loss"]) + 1)
    ax.plot(epochs, logs["loss"], label="loss")
    if "val_loss" in logs:
        ax.plot(epochs, logs["val_loss"], label="val_loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("NLL (nats / point)")
    ax.set_title("Model loss")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def moons_figure(model, x, num=3000, seed=0):
    """The book's 2x2 scatter: data X and f(X) (inference), prior samples Z and
    g(Z) (generation).

    Args:
        model: a 2-D flow with `encode` (data -> latent) and `decode`.
        x: data points `(n, 2)`; the first `num` are drawn.
        num: number of points per panel.
        seed: seed of the prior samples.
    """
    _check_2d(model, "moons_figure")
    x = np.asarray(x, "float32")[:num]
    z = model.encode(x)
    z_prior = np.random.default_rng(seed).standard_normal((num, 2)).astype("float32")
    x_gen = model.decode(z_prior)
    fig = _figure(figsize=(9, 8), layout="constrained")
    axes = fig.subplots(2, 2)
    panels = [
        (x, "Inference data space X", "C0"),
        (z, "Inference latent space f(X)", "C0"),
        (z_prior, "Generated latent space Z", "C1"),
        (x_gen, "Generated data space g(Z)", "C1"),
    ]
    data_lim = _limits(np.concatenate([x, x_gen]))
    latent_lim = _limits(np.concatenate([z, z_prior]))
    for ax, (points, title, color), lim in zip(
        axes.flat, panels, [data_lim, latent_lim, latent_lim, data_lim]
    ):
        ax.scatter(points[:, 0], points[:, 1], color=color, **_POINT)
        ax.set_title(title)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal")
    return fig


def _limits(points, margin=0.1, clip=6.0):
    # Symmetric-enough square limits around the bulk of the points; a few far
    # outliers of a badly trained model must not squash the picture.
    low, high = np.percentile(points, [0.5, 99.5])
    pad = margin * (high - low)
    return max(low - pad, -clip), min(high + pad, clip)


def density_figure(model, x=None, extent=(-2.5, 2.5, -2.5, 2.5), resolution=200):
    """A heat map of the model density `exp(log_prob)` over the plane, with the
    data points on top.

    Args:
        model: a 2-D flow with `log_prob`.
        x: data points to overlay, or `None`.
        extent: `(x_min, x_max, y_min, y_max)` of the map (standardised moons
            fill roughly [-2, 2.2] x [-2, 2]).
        resolution: grid points per axis.
    """
    _check_2d(model, "density_figure")
    x_min, x_max, y_min, y_max = extent
    u = np.linspace(x_min, x_max, resolution, dtype="float32")
    v = np.linspace(y_min, y_max, resolution, dtype="float32")
    grid = np.stack(np.meshgrid(u, v), axis=-1).reshape(-1, 2)  # (R*R, 2)
    density = np.exp(model.log_prob(grid, batch_size=4096))
    density = density.reshape(resolution, resolution)  # (rows = y, cols = x)
    fig = _figure(figsize=(6.5, 5), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(
        density, origin="lower", extent=extent, cmap="viridis", aspect="equal"
    )
    fig.colorbar(image, ax=ax, label="p(x)")
    if x is not None:
        x = np.asarray(x)
        ax.scatter(x[:, 0], x[:, 1], color="white", s=1, alpha=0.4, linewidths=0)
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_title("Model density exp(log p(x))")
    return fig


def temperature_figure(model, temperatures=(0.5, 0.75, 1.0, 1.25), num=2000, seed=0):
    """Samples `g(z)` with `z ~ N(0, T^2 I)`, one panel per temperature `T`.

    Args:
        model: a 2-D flow with `sample(num, temperature, seed)`.
        temperatures: the prior standard deviations.
        num: samples per panel.
        seed: seed of every panel's draw (the same `z / T` in each panel).
    """
    _check_2d(model, "temperature_figure")
    samples = [model.sample(num, temperature=t, seed=seed) for t in temperatures]
    lim = _limits(np.concatenate(samples))
    fig = _figure(figsize=(3.2 * len(temperatures), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(temperatures)))
    for ax, t, points in zip(axes, temperatures, samples):
        ax.scatter(points[:, 0], points[:, 1], color="C1", **_POINT)
        ax.set_title(f"T = {t:g}")
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal")
    return fig
