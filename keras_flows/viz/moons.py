"""Two-moons pictures for 2-D flows (RealNVP): loss curve, the book's 2x2 scatter,
a density map (p and log p) and samples at several temperatures. Every panel has
a title and axis labels (x1, x2 in standardised units; z1, z2 in latent space).

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
_X = ("x1 (standardised)", "x2 (standardised)")
_Z = ("z1", "z2")


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
    fig = _figure(figsize=(9, 8.4), layout="constrained")
    axes = fig.subplots(2, 2)
    panels = [
        (x, f"Inference data space X ({len(x)} data points)", "C0", _X),
        (z, "Inference latent space f(X)", "C0", _Z),
        (z_prior, f"Generated latent space Z ~ N(0, I) ({num} draws)", "C1", _Z),
        (x_gen, "Generated data space g(Z)", "C1", _X),
    ]
    data_lim = _limits(np.concatenate([x, x_gen]))
    latent_lim = _limits(np.concatenate([z, z_prior]))
    for ax, (points, title, color, names), lim in zip(
        axes.flat, panels, [data_lim, latent_lim, latent_lim, data_lim]
    ):
        ax.scatter(points[:, 0], points[:, 1], color=color, **_POINT)
        ax.set_title(title)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal")
    fig.suptitle(
        f"{type(model).__name__}: inference X → f(X) (top), "
        "generation Z → g(Z) (bottom)"
    )
    return fig


def _limits(points, margin=0.1, clip=6.0):
    # Symmetric-enough square limits around the bulk of the points; a few far
    # outliers of a badly trained model must not squash the picture.
    low, high = np.percentile(points, [0.5, 99.5])
    pad = margin * (high - low)
    return max(low - pad, -clip), min(high + pad, clip)


def density_figure(
    model,
    x=None,
    extent=(-2.5, 2.5, -2.5, 2.5),
    resolution=400,
    num_points=500,
    log_range=12.0,
):
    """The model density over the plane, two panels: `p(x)` on a linear colour
    scale from 0 to its maximum, with data points on top, and `log p(x)`, which
    shows the low-density structure (the bridges a flow keeps between the moons)
    that a linear scale hides.

    Args:
        model: a 2-D flow with `log_prob`.
        x: data points to overlay on the `p(x)` panel (a legend says which), or
            `None`.
        extent: `(x_min, x_max, y_min, y_max)` of the map (standardised moons
            fill roughly [-2, 2.2] x [-2, 2]).
        resolution: grid points per axis. For the documented run the peak
            density, its place and the mass in the map are the same at 200, 400
            and 800; 400 (0.0125 apart) draws the thin tail off the lower moon's
            inner tip, narrower than 0.025, as a line rather than a staircase.
        num_points: at most this many points of `x` are drawn (evenly spaced),
            so they mark the data without hiding the density under them.
        log_range: the `log p` colour scale spans this many nats below its
            maximum; lower values are drawn in the lowest colour.
    """
    _check_2d(model, "density_figure")
    x_min, x_max, y_min, y_max = extent
    u = np.linspace(x_min, x_max, resolution, dtype="float32")
    v = np.linspace(y_min, y_max, resolution, dtype="float32")
    grid = np.stack(np.meshgrid(u, v), axis=-1).reshape(-1, 2)  # (R*R, 2)
    log_p = model.log_prob(grid, batch_size=4096)
    log_p = log_p.reshape(resolution, resolution)  # (rows = y, cols = x)
    fig = _figure(figsize=(11.5, 5), layout="constrained")
    ax_p, ax_log = fig.subplots(1, 2)
    image = dict(origin="lower", extent=extent, cmap="viridis", aspect="equal")
    shown = ax_p.imshow(np.exp(log_p), vmin=0.0, **image)
    fig.colorbar(shown, ax=ax_p, label="p(x)", shrink=0.9)
    top = float(log_p.max())
    shown = ax_log.imshow(log_p, vmin=top - log_range, vmax=top, **image)
    fig.colorbar(shown, ax=ax_log, label="log p(x) (nats)", extend="min", shrink=0.9)
    if x is not None:
        x = np.asarray(x)
        step = max(1, -(-len(x) // num_points))  # ceil: at most num_points
        shown = x[::step]
        ax_p.scatter(
            shown[:, 0],
            shown[:, 1],
            color="tab:red",
            s=3,
            linewidths=0,
            label=f"data ({len(shown)} of {len(x)} points)",
        )
        ax_p.legend(loc="upper left", markerscale=3, framealpha=0.8)
    ax_p.set_title("density p(x), linear scale")
    ax_log.set_title(f"log density log p(x), top {log_range:g} nats")
    for ax in (ax_p, ax_log):
        ax.set_xlim(x_min, x_max)
        ax.set_ylim(y_min, y_max)
        ax.set_xlabel(_X[0])
        ax.set_ylabel(_X[1])
    fig.suptitle(
        f"{type(model).__name__} density exp(log_prob) on a "
        f"{resolution}x{resolution} grid"
    )
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
    fig = _figure(figsize=(3.2 * len(temperatures) + 0.6, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(temperatures)))
    for ax, t, points in zip(axes, temperatures, samples):
        ax.scatter(points[:, 0], points[:, 1], color="C1", **_POINT)
        ax.set_title(f"T = {t:g}")
        ax.set_xlabel(_X[0])
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal")
    axes[0].set_ylabel(_X[1])  # the panels share their limits
    fig.suptitle(
        f"{type(model).__name__} samples g(z), z ~ N(0, T² I), {num} per panel"
    )
    return fig
