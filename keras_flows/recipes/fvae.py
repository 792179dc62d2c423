"""The f-VAE recipe: `keras-flows train fvae [--data FOLDER] [--quick]` (settings:
`registry.RECIPES["fvae"]`): the Glow recipe's files, `samples_T0.8.png`, and the
held-out ELBO and importance-weighted bits/dim (upper bounds on the true ones)."""

import pathlib

from keras_flows import viz
from keras_flows.models import FVAE
from keras_flows.recipes.common import (
    compiled,
    load_data,
    schedule,
    train_and_draw,
    write_metrics,
    write_pictures,
)
from keras_flows.recipes.registry import takes_defaults


@takes_defaults("fvae")
def train(*, epochs, batch_size, out, data, image_size, limit, levels,
          depth, hidden_channels, encoder_blocks, n_bits, learning_rate,
          warmup_steps, decay, temperature, grid, iwae_samples, seed,
          resume, verbose, precision):  # fmt: skip
    """Trains f-VAE (see `FVAE`) and writes the run folder `out`; returns the
    metrics dict. `data`: an image folder, streamed (`None`: the MNIST stand-in)."""
    out = pathlib.Path(out)
    x_train, x_val, image_shape = load_data(
        data, image_size, batch_size, limit, seed, model="f-VAE"
    )
    # 2 on the stand-in leaves its 8x8 latent room for F's levels (4, or as many fit).
    encoder_levels = levels or (2 if data is None else 3)
    latent_side = image_shape[0] // 2**encoder_levels
    flow_levels = min(4, max(1, latent_side.bit_length() - 1))  # side / 2**(L-1) >= 1
    build = lambda: FVAE(
        image_shape,
        encoder_levels=encoder_levels,
        encoder_blocks=encoder_blocks,
        flow_levels=flow_levels,
        flow_depth=depth,
        hidden_channels=hidden_channels,
        n_bits=n_bits,
        seed=seed,
    )
    rate = schedule(learning_rate, warmup_steps, decay, x_train, batch_size, epochs)
    model = compiled(build, seed, precision, rate)
    fit = dict(epochs=epochs, batch_size=batch_size, resume=resume, verbose=verbose)
    model, result = train_and_draw(
        model, x_train, x_val, out, grid, temperature, on_divergence="reduce_lr", **fit
    )
    if temperature != 0.8:  # else `samples.png` is that grid
        viz.sample_grid(model, grid, grid, 0.8, seed=0, path=out / "samples_T0.8.png")
    write_pictures(model, x_train, x_val, out, grid)
    numbers = {}
    if x_val is not None:
        iwae = model.bits_per_dim(x_val, num_samples=iwae_samples).mean()
        numbers = dict(
            test_elbo_bits_per_dim=float(model.bits_per_dim(x_val).mean()),
            test_iwae_bits_per_dim=float(iwae),
            iwae_samples=iwae_samples,
        )
    judge_at = temperature if data is None else None  # the stand-in's digits
    return write_metrics(out, model, result, x_train, x_val, judge_at, **numbers)
