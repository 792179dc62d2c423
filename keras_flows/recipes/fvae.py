"""The f-VAE recipe (settings: `registry.RECIPES["fvae"]`).

    keras-flows train fvae --data ~/data/celeba_hq_128 --image-size 128
    keras-flows train fvae                 # offline: the MNIST stand-in, 32x32x1
    keras-flows train fvae --quick         # digits in a few minutes

Writes the Glow recipe's files, `samples_T0.8.png` (when `samples.png` is at
another temperature), and in `metrics.json` the
held-out ELBO and importance-weighted bits/dim (upper bounds on the true ones).
"""

import pathlib

from keras_flows import quality, viz
from keras_flows.models import FVAE
from keras_flows.recipes.common import (
    compiled,
    fit_data,
    load_data,
    run_steps,
    train_and_draw,
    write_metrics,
    write_pictures,
)
from keras_flows.recipes.registry import takes_defaults
from keras_flows.training import rate_schedule


@takes_defaults("fvae")
def train(
    *,
    epochs,
    batch_size,
    out,
    data,
    image_size,
    limit,
    levels,
    depth,
    hidden_channels,
    encoder_blocks,
    n_bits,
    learning_rate,
    warmup_steps,
    decay,
    temperature,
    grid,
    iwae_samples,
    seed,
    resume,
    verbose,
    precision,
):
    """Trains f-VAE and writes the run folder `out`; returns the metrics dict.

    Args:
        levels: encoder levels (default 3, the original script's; 2 on the
            stand-in, so its 8x8x16 latent has room for F's levels: 4, the
            original script's, or as many as fit).
        depth: steps per level of the flow F (0: a plain VAE).
        iwae_samples: `k` of the importance-weighted held-out bound.
        Others: as in `glow.train` and `FVAE`.
    """
    out = pathlib.Path(out)
    x_train, x_val, image_shape = load_data(
        data, image_size, batch_size, limit, seed, model="f-VAE"
    )
    encoder_levels = levels or (2 if data is None else 3)
    latent_side = image_shape[0] // 2**encoder_levels
    flow_levels = min(4, max(1, latent_side.bit_length() - 1))  # side / 2**(L-1) >= 1
    decay_steps = run_steps(x_train, batch_size, epochs) if decay else None
    model = compiled(
        lambda: FVAE(
            image_shape,
            encoder_levels=encoder_levels,
            encoder_blocks=encoder_blocks,
            flow_levels=flow_levels,
            flow_depth=depth,
            hidden_channels=hidden_channels,
            n_bits=n_bits,
            seed=seed,
        ),
        seed,
        precision,
        rate_schedule(learning_rate, warmup_steps, decay_steps),
    )
    model, result = train_and_draw(
        model,
        x_train,
        out,
        grid,
        temperature,
        epochs=epochs,
        **fit_data(model, x_train, x_val, batch_size),
        resume=resume,
        verbose=verbose,
        on_divergence="reduce_lr",
    )
    if temperature != 0.8:  # else `samples.png` is that grid
        viz.sample_grid(model, grid, grid, 0.8, seed=0, path=out / "samples_T0.8.png")
    write_pictures(model, x_train, x_val, out, grid)
    held_out = {}
    if x_val is not None:
        held_out = dict(
            test_elbo_bits_per_dim=float(model.bits_per_dim(x_val).mean()),
            test_iwae_bits_per_dim=float(
                model.bits_per_dim(x_val, num_samples=iwae_samples).mean()
            ),
            iwae_samples=iwae_samples,
            test_size=len(x_val),
        )
        if data is None:  # digits: how much the samples look like them
            held_out.update(quality.judge_samples(model, x_val, temperature))
    return write_metrics(out, model, result, x_train, **held_out)
