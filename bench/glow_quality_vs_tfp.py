"""Quality per CPU budget: held-out bits/dim of `keras_flows.models.Glow` and
`tfp.bijectors.Glow` after the same training time, at two learning rates
(docs/results.md, "Quality per CPU budget against `tfb.Glow`").

The MNIST stand-in (32x32x1 in [-1, 1], 4,000 train, 1,000 held out), batch 64,
3 levels x 8 steps, 256 hidden channels, affine coupling, LU 1x1 convolution,
Actnorm initialised from the first batch, plain Keras `Adam(lr)`, no warm-up and
no divergence guard (a contestant whose loss turns NaN/inf stops there). Ours is
the harness's `glow_contestant` (default `tanh` scale); tfb.Glow is
`glow_vs_tfp.tfb_glow`, scored as `(NLL(x + u) + D log 128) / (D log 2)`, which
is `Glow.bits_per_dim`. The four train in turns (harness `take_turns`) and are
scored after each turn on the same held-out images (one seeded draw of `u`).

    python bench/glow_quality_vs_tfp.py             # about 45 min
    python bench/glow_quality_vs_tfp.py --quick     # tiny sizes, a smoke run
"""

import harness
from glow_vs_tfp import tfb_glow

FULL = dict(levels=3, depth=8, hidden=256, batch=64, budget=600.0, chunk=60.0)
QUICK = dict(levels=3, depth=1, hidden=8, batch=16, budget=6.0, chunk=2.0)


def tfb(sizes, lr, first_batch):
    import numpy as np
    import tensorflow as tf

    shape = first_batch.shape[1:]
    glow, flow, _, step = tfb_glow(shape, *sizes, lr)
    log_prob = tf.function(flow.log_prob)

    def bits_per_dim(x):
        dims = int(np.prod(shape))
        nll = np.concatenate(
            [-log_prob(x[i : i + 250]).numpy() for i in range(0, len(x), 250)]
        )
        return ((nll + dims * np.log(128.0)) / (dims * np.log(2.0))).mean()

    step(first_batch)  # builds the variables and runs Actnorm's data init
    params = sum(int(np.prod(v.shape)) for v in glow.trainable_variables)
    return harness.Contestant(
        "tfb.Glow", lr, step, bits_per_dim, glow, parameters=params
    )


def main():
    parser = harness.arguments(__doc__, quick=True, budget=True, backend="tensorflow")
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[1e-4, 1e-3])
    args = parser.parse_args()
    import keras

    size = dict(QUICK if args.quick else FULL)
    size["budget"] = args.budget or size["budget"]
    x_train, x_eval = harness.stand_in(*((256, 64) if args.quick else ()))
    size["data"] = (
        f"MNIST stand-in 32x32x1, {len(x_train)} train, {len(x_eval)} held out"
    )
    size["model"] = "3 levels x 8 steps, affine, LU 1x1 conv, data-init Actnorm"
    record = harness.Record("glow_quality_vs_tfp", vars(args) | size)
    keras.utils.set_random_seed(0)
    first = x_train[: size["batch"]]
    sizes = size["levels"], size["depth"], size["hidden"]
    contestants = []
    for lr in args.learning_rates:
        ours = harness.glow_contestant("keras_flows Glow", lr, first, *sizes)
        contestants += [ours, tfb(sizes, lr, first)]
    harness.take_turns(
        contestants, x_train, x_eval, size["batch"], size["budget"], size["chunk"]
    )
    rows = [c.summary() for c in contestants]
    columns = {"model": "", "learning_rate": "g", "parameters": ",", "steps": "d"}
    columns |= {"held_out": ".3f", "best_held_out": ".3f", "diverged_at_step": ""}
    harness.print_table(rows, columns)
    record.write(rows, quick=args.quick)


if __name__ == "__main__":
    main()
