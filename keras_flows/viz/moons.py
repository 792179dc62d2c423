"""Two-moons pictures of 2-D flows (RealNVP) as matplotlib `Figure`s: no `pyplot`,
so no display or global state."""

import numpy as np

_POINT = {"s": 2, "alpha": 0.5, "linewidths": 0}
_X = ("x1 (standardised)", "x2 (standardised)")
_Z = ("z1", "z2")


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _check_2d(model, fn):
    dims = tuple(model.encoder.inputs[0].shape[1:])
    if dims != (2,):
        raise ValueError(
            f"`{fn}` draws 2-D flows. Received: a model whose data shape is {dims}"
        )


def plot_loss(history):
    """The training and validation loss (NLL, nats per point) per epoch, from a
    `keras.callbacks.History` or its `.history` dict."""
    logs = getattr(history, "history", history)
    fig = _figure((6, 4))
    ax = fig.add_subplot()
    epochs = np.arange(1, len(logs["loss"]) + 1)
    ax.plot(epochs, logs["loss"], label="loss")
    if "val_loss" in logs:
        ax.plot(epochs, logs["val_loss"], label="val_loss")
    ax.set(xlabel="epoch", ylabel="NLL (nats / point)", title="Model loss")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def moons_figure(model, x, num=3000, seed=0):
    """The book's 2x2 scatter of a 2-D flow: the first `num` points `x` and f(x)
    (inference), `num` prior samples Z drawn with `seed` and g(Z) (generation)."""
    _check_2d(model, "moons_figure")
    x = np.asarray(x, "float32")[:num]
    z = model.encode(x)
    z_prior = np.random.default_rng(seed).standard_normal((num, 2)).astype("float32")
    x_gen = model.decode(z_prior)
    data = (_X, _limits(np.concatenate([x, x_gen])))
    latent = (_Z, _limits(np.concatenate([z, z_prior])))
    panels = [
        (x, f"Inference data space X ({len(x)} data points)", "C0", data),
        (z, "Inference latent space f(X)", "C0", latent),
        (z_prior, f"Generated latent space Z ~ N(0, I) ({num} draws)", "C1", latent),
        (x_gen, "Generated data space g(Z)", "C1", data),
    ]
    fig = _figure((9, 8.4))
    axes = fig.subplots(2, 2).flat
    for ax, (points, title, color, (names, lim)) in zip(axes, panels):
        ax.scatter(*points.T, color=color, **_POINT)
        ax.set(title=title, xlabel=names[0], ylabel=names[1])
        ax.set(xlim=lim, ylim=lim, aspect="equal")
    fig.suptitle(
        f"{type(model).__name__}: inference X → f(X) (top), "
        "generation Z → g(Z) (bottom)"
    )
    return fig


def _limits(points, margin=0.1, clip=6.0):
    # Square limits around the bulk of the points: a few far outliers of a badly
    # trained model must not squash the picture.
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
    """The density of a 2-D flow over `extent` (`x_min, x_max, y_min, y_max`):
    `p(x)` under at most `num_points` of the data `x`, and `log p(x)` down to
    `log_range` nats below its top, showing what a linear scale hides."""
    _check_2d(model, "density_figure")
    u = np.linspace(*extent[:2], resolution, dtype="float32")
    v = np.linspace(*extent[2:], resolution, dtype="float32")
    grid = np.stack(np.meshgrid(u, v), axis=-1).reshape(-1, 2)  # (R*R, 2)
    log_p = model.log_prob(grid, batch_size=4096).reshape(resolution, -1)  # (y, x)
    fig = _figure((11.5, 5))
    ax_p, ax_log = fig.subplots(1, 2)
    image = dict(origin="lower", extent=extent, cmap="viridis", aspect="equal")
    shown = ax_p.imshow(np.exp(log_p), vmin=0.0, **image)
    fig.colorbar(shown, ax=ax_p, label="p(x)", shrink=0.9)
    top = float(log_p.max())
    shown = ax_log.imshow(log_p, vmin=top - log_range, vmax=top, **image)
    fig.colorbar(shown, ax=ax_log, label="log p(x) (nats)", extend="min", shrink=0.9)
    if x is not None:
        x = np.asarray(x)
        shown = x[:: max(1, -(-len(x) // num_points))]  # ceil: at most num_points
        label = f"data ({len(shown)} of {len(x)} points)"
        ax_p.scatter(*shown.T, color="tab:red", s=3, linewidths=0, label=label)
        ax_p.legend(loc="upper left", markerscale=3, framealpha=0.8)
    ax_p.set_title("density p(x), linear scale")
    ax_log.set_title(f"log density log p(x), top {log_range:g} nats")
    for ax in (ax_p, ax_log):
        ax.set(xlim=extent[:2], ylim=extent[2:], xlabel=_X[0], ylabel=_X[1])
    fig.suptitle(
        f"{type(model).__name__} density exp(log_prob) on a "
        f"{resolution}x{resolution} grid"
    )
    return fig


def temperature_figure(model, temperatures=(0.5, 0.75, 1.0, 1.25), num=2000, seed=0):
    """`num` samples `g(z)` of a 2-D flow with `z ~ N(0, T^2 I)`, one panel per
    temperature `T`, each drawn with `seed` (the same `z / T` in each panel)."""
    _check_2d(model, "temperature_figure")
    samples = [model.sample(num, temperature=t, seed=seed) for t in temperatures]
    lim = _limits(np.concatenate(samples))
    fig = _figure((3.2 * len(temperatures) + 0.6, 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(temperatures)))
    for ax, t, points in zip(axes, temperatures, samples):
        ax.scatter(*points.T, color="C1", **_POINT)
        ax.set(title=f"T = {t:g}", xlabel=_X[0], xlim=lim, ylim=lim, aspect="equal")
    axes[0].set_ylabel(_X[1])  # the panels share their limits
    fig.suptitle(
        f"{type(model).__name__} samples g(z), z ~ N(0, T² I), {num} per panel"
    )
    return fig
