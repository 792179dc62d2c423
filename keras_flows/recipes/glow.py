"""The Glow recipe: `keras-flows train glow [--data FOLDER] [--quick]` (settings:
`registry.RECIPES["glow"]`); offline it trains on the MNIST stand-in."""

import math
import pathlib

from keras_flows.models import Glow
from keras_flows.recipes.common import (
    compiled,
    held_out_likelihood,
    load_data,
    load_labelled,
    schedule,
    train_and_draw,
    write_metrics,
    write_pictures,
)
from keras_flows.recipes.registry import takes_defaults
from keras_flows.training import run_folder


@takes_defaults("glow")
def train(*, epochs, batch_size, out, data, image_size, limit, levels, depth,
          hidden_channels, coupling, permutation, actnorm_data_init, n_bits,
          learning_rate, warmup_steps, decay, temperature, grid, seed, conditional,
          resume, verbose, precision):  # fmt: skip
    """Trains Glow (see `Glow`) and writes the run folder `out`; returns the
    metrics dict. `data`: an image folder, streamed (`None`: the MNIST stand-in)."""
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
    build = lambda: Glow(
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
    rate = schedule(learning_rate, warmup_steps, decay, x_train, batch_size, epochs)
    model = compiled(build, seed, precision, rate)
    fit = dict(epochs=epochs, batch_size=batch_size, resume=resume, verbose=verbose)
    model, result = train_and_draw(
        model,
        x_train,
        x_val,
        out,
        grid,
        temperature,
        class_names,
        y=y_train,
        y_val=y_val,
        # The original script's guard: NaN/inf, or after 10 epochs a loss 0.5
        # bits/dim above the best, restores the best weights and lr / 10.
        on_divergence="reduce_lr",
        max_jump=0.5 * math.prod(image_shape) * math.log(2),
        warmup_epochs=10,
        **fit,
    )
    if not conditional:
        write_pictures(model, x_train, x_val, out, grid)
    confusion = out / "confusion.png" if conditional else None
    numbers = held_out_likelihood(model, x_val, y_val, confusion, class_names)
    judge_at = temperature if data is None else None  # the stand-in's digits
    return write_metrics(out, model, result, x_train, x_val, judge_at, **numbers)
