"""The Glow recipe (settings: `registry.RECIPES["glow"]`).

    keras-flows train glow --data ~/data/img_align_celeba --image-size 64
    keras-flows train glow                 # offline: the MNIST stand-in, 32x32x1
    keras-flows train glow --quick         # digits in a few minutes

Writes `samples.png`, `temperatures.png`, `reconstructions.png`, `interpolation.png`,
`corners.png` and `metrics.json` into the run folder; a class-conditional run,
`samples.png` with one row per class and `confusion.png`.
"""

import math
import pathlib

from keras_flows import quality
from keras_flows.models import Glow
from keras_flows.recipes.common import (
    compiled,
    fit_data,
    held_out_likelihood,
    load_data,
    load_labelled,
    run_steps,
    train_and_draw,
    write_metrics,
    write_pictures,
)
from keras_flows.recipes.registry import takes_defaults
from keras_flows.training import rate_schedule, run_folder


@takes_defaults("glow")
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
    coupling,
    permutation,
    actnorm_data_init,
    n_bits,
    learning_rate,
    warmup_steps,
    decay,
    temperature,
    grid,
    seed,
    conditional,
    resume,
    verbose,
    precision,
):
    """Trains Glow and writes the run folder `out`; returns the metrics dict.

    Args:
        data: an image folder (e.g. CelebA), streamed; `None`: the MNIST stand-in.
        image_size: side of the square images (default 64; the stand-in's is 32).
        limit: use only this many training images (smoke runs).
        levels, depth, hidden_channels, coupling, permutation, actnorm_data_init,
            n_bits: see `Glow`.
        warmup_steps: steps of a linear learning-rate warm-up (`None`: none).
        decay: lower the learning rate to 0 along a cosine over the run.
        temperature, grid: the per-epoch sample grid (0.8 looks better at 64x64).
        conditional: a class-conditional Glow on the labelled stand-in or on a
            folder with one sub-folder of images per class (read into RAM).
        resume, precision: as in `nice.train`.
    """
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
    decay_steps = run_steps(x_train, batch_size, epochs) if decay else None
    model = compiled(
        lambda: Glow(
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
        class_names,
        epochs=epochs,
        y=y_train,
        **fit_data(model, x_train, x_val, batch_size, y_val),
        resume=resume,
        verbose=verbose,
        # The original script's divergence guard, generalised: NaN/inf, or
        # after 10 epochs an epoch loss more than 0.5 bits/dim above the best,
        # restores the best weights and divides the learning rate by 10.
        on_divergence="reduce_lr",
        max_jump=0.5 * math.prod(image_shape) * math.log(2),
        warmup_epochs=10,
    )
    if not conditional:
        write_pictures(model, x_train, x_val, out, grid)
    held_out = {}
    if x_val is not None:
        confusion = out / "confusion.png" if conditional else None
        numbers = held_out_likelihood(model, x_val, y_val, confusion, class_names)
        held_out = dict(**numbers, test_size=len(x_val))
        if data is None:  # digits: how much the samples look like them
            held_out.update(quality.judge_samples(model, x_val, temperature))
    return write_metrics(out, model, result, x_train, **held_out)
