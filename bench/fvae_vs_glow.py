"""f-VAE against a Glow of similar size and the plain VAE, at an equal CPU budget
(docs/results.md, "Against a Glow of the same size and the plain VAE" and "What
the flow prior buys at equal size").

On the MNIST stand-in (4,000 train; the first 500 held-out digits, dequantised
once, for every number), batch 32, plain Keras `Adam(lr)`, no guard:

- f-VAE: `FVAE((32, 32, 1), encoder_levels=2, encoder_blocks=12, flow_levels=4,
  flow_depth=12, hidden_channels=256)`, the `keras-flows train fvae` stand-in model;
- VAE: the same with `flow_depth=0` (a N(0, I) prior); wide VAE: the VAE with
  `block_channels=1984`, as many parameters as the f-VAE;
- Glow: the harness's Glow, 3 levels x 8 steps, 576 channels (the f-VAE's size).

They train in turns (harness `take_turns`, `--budget` s each); after each turn,
held-out bits/dim (the ELBO's, or Glow's exact). At the end: the ELBO and the
importance-weighted bound (k = 64), sigma1, sigma2, and the ELBO with sigma2
refitted to its closed-form optimum on 500 training images; 9x9 sample grids at
T = 1 and 0.8 in `docs/images/<name>_samples.png`.

    python bench/fvae_vs_glow.py --glow-learning-rate 1e-4    # about 100 min
    python bench/fvae_vs_glow.py --models "f-VAE,wide VAE" --name fvae_vs_wide_vae
    python bench/fvae_vs_glow.py --quick                      # tiny, a smoke run
"""

import math
import sys
import time
from pathlib import Path

import harness

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
LR = 1e-3  # f-VAE and VAEs


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


def build(name, size, glow_lr, first_batch):
    import keras

    from keras_flows.models import FVAE

    if name == "Glow":
        sizes = 3, size["glow_depth"], size["glow_hidden"]
        return harness.glow_contestant(name, glow_lr, first_batch, *sizes)
    model = FVAE(
        (32, 32, 1),
        encoder_levels=2,
        encoder_blocks=size["blocks"],
        flow_levels=4,
        flow_depth=size["flow_depth"] if name == "f-VAE" else 0,
        hidden_channels=size["flow_hidden"],
        block_channels=size["wide_channels"] if name == "wide VAE" else None,
        seed=0,
    )
    model.compile(keras.optimizers.Adam(LR))
    model.train_on_batch(first_batch)  # traces the step, outside the budget
    score = harness.mean_bits_per_dim(model)
    return harness.Contestant(name, LR, model.train_on_batch, score, model)


def evaluate(c, x_eval, x_refit, iwae):
    """The final numbers of one contestant."""
    if c.name == "Glow":
        return {"exact_bits_per_dim": c.bits_per_dim(x_eval)}
    entry = {"elbo_bits_per_dim": c.bits_per_dim(x_eval)}
    entry[f"iwae{iwae}_bits_per_dim"] = c.bits_per_dim(x_eval, num_samples=iwae)
    sigmas = [c.model.posterior.log_sigma, c.model.likelihood.log_sigma]
    entry["sigma1"], entry["sigma2"] = (math.exp(float(v)) for v in sigmas)
    if not c.diverged_at:
        refit_sigma2(c.model, x_refit)
        entry["sigma2_refit"] = math.exp(float(sigmas[1]))
        entry["elbo_bits_per_dim_sigma2_refit"] = c.bits_per_dim(x_eval)
    return entry


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


def main():
    parser = harness.arguments(
        __doc__, quick=True, budget=True, name="fvae_vs_glow", backend="tensorflow"
    )
    parser.add_argument("--glow-learning-rate", type=float, default=1e-3)
    parser.add_argument("--save-dir", default=None, help="folder for the weights")
    parser.add_argument("--models", default=",".join(MODELS), help=", ".join(MODELS))
    args = parser.parse_args()
    models = args.models.split(",")
    if set(models) - set(MODELS):
        parser.error(f"unknown --models {sorted(set(models) - set(MODELS))}")
    import keras

    from keras_flows.models.base import dequantize_data

    size = dict(QUICK if args.quick else FULL)
    size["budget"] = args.budget or size["budget"]
    x_train, x_eval = harness.stand_in(128 if args.quick else None, size["eval_size"])
    x_refit = dequantize_data(x_train[: size["eval_size"]], (-1, 1), 8, seed=1)[0]
    size["data"] = (
        f"MNIST stand-in 32x32x1, {len(x_train)} train, {len(x_eval)} held out"
    )
    record = harness.Record(args.name, vars(args) | size)
    keras.utils.set_random_seed(0)
    first = x_train[: size["batch"]]
    contestants = [build(name, size, args.glow_learning_rate, first) for name in models]
    harness.take_turns(
        contestants, x_train, x_eval, size["batch"], size["budget"], size["chunk"]
    )
    rows = []
    for c in contestants:
        start = time.perf_counter()
        rows.append(c.summary() | evaluate(c, x_eval, x_refit, size["iwae"]))
        rows[-1]["eval_seconds"] = round(time.perf_counter() - start, 1)
        print(rows[-1], file=sys.stderr, flush=True)
        if args.save_dir:
            Path(args.save_dir).mkdir(parents=True, exist_ok=True)
            c.model.save_weights(Path(args.save_dir) / f"{c.name}.weights.h5")
    if not args.quick:
        picture(
            contestants,
            harness.HERE.parent / "docs" / "images" / f"{args.name}_samples.png",
        )
    columns = {"model": "", "parameters": ",", "steps": "d", "elbo_bits_per_dim": ".3f"}
    columns |= {f"iwae{size['iwae']}_bits_per_dim": ".3f", "exact_bits_per_dim": ".3f"}
    harness.print_table(rows, columns)
    print("(held-out bits/dim: ELBO and IWAE are upper bounds, Glow's is exact)")
    record.write(rows, quick=args.quick)


if __name__ == "__main__":
    main()
