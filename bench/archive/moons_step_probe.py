"""Where a two-moons RealNVP training step goes: optimizer overhead and tower layout.

A stand-alone copy of the book's encoder (6 masked affine couplings, s and t towers
of 4 x Dense(256, relu) + Dense(2)), trained with `fit` on 2,400 points at batch 256,
in four variants:

* ``towers=separate`` (the book's and `RealNVP`'s layout: 12 `Sequential` towers,
  120 variables) or ``towers=stacked`` (each coupling's s and t towers as one layer
  with stacked `(2, in, out)` kernels: one batched matmul per depth, 60 variables);
* ``optimizer=adam`` (the book's) or ``optimizer=sgd`` (to expose what the
  per-variable Adam update costs).

Prints ms per 10-step epoch (median of 3 timed `fit`s of 10 epochs each).

    python bench/archive/moons_step_probe.py                    # current backend
    KERAS_BACKEND=jax python bench/archive/moons_step_probe.py
"""

import statistics
import time

import keras
import numpy as np
from keras import ops

DIM, WIDTH, COUPLINGS, BATCH = 2, 256, 6, 256


class StackedTowers(keras.layers.Layer):
    """The s and t towers of one coupling as one layer: kernels `(2, in, out)`."""

    def build(self, input_shape):
        sizes = [input_shape[-1]] + [WIDTH] * 4 + [DIM]
        pairs = list(zip(sizes[:-1], sizes[1:]))
        self.kernels = [
            self.add_weight(shape=(2, a, b), initializer="glorot_uniform")
            for a, b in pairs
        ]
        self.biases = [
            self.add_weight(shape=(2, 1, b), initializer="zeros") for _, b in pairs
        ]

    def call(self, x):
        h = ops.expand_dims(x, 0)
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = ops.matmul(h, kernel) + bias
            if i < len(self.kernels) - 1:
                h = ops.relu(h)
        return ops.tanh(h[0]), h[1]


def tower(activation):
    hidden = [keras.layers.Dense(WIDTH, activation="relu") for _ in range(4)]
    return keras.Sequential(
        [keras.Input((DIM,)), *hidden, keras.layers.Dense(DIM, activation=activation)]
    )


def build(towers):
    x_in = keras.Input((DIM,))
    x, log_dets = x_in, []
    for k in range(COUPLINGS):
        mask = np.array([(j + k) % 2 for j in range(DIM)], "float32")
        kept = x * mask
        if towers == "stacked":
            s, t = StackedTowers()(kept)
        else:
            s, t = tower("tanh")(kept), tower(None)(kept)
        s, t = s * (1 - mask), t * (1 - mask)
        x = kept + (x - t) * ops.exp(-s) * (1 - mask)
        log_dets.append(-ops.sum(s, axis=1, keepdims=True))
    return keras.Model(x_in, keras.layers.Concatenate()([x, *log_dets]))


def nll(_, y):
    z, log_det = y[:, :DIM], ops.sum(y[:, DIM:], axis=1)
    return ops.mean(0.5 * ops.sum(z**2, axis=1) - log_det)


def epoch_ms(towers, optimizer):
    keras.utils.set_random_seed(0)
    model = build(towers)
    opt = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[optimizer]
    model.compile(opt(1e-4), loss=nll)
    data = np.random.default_rng(0).normal(size=(2400, DIM)).astype("float32")
    model.fit(data, data, batch_size=BATCH, epochs=2, verbose=0)  # compile
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model.fit(data, data, batch_size=BATCH, epochs=10, verbose=0)
        times.append((time.perf_counter() - start) / 10)
    return 1e3 * statistics.median(times), len(model.trainable_variables)


def main():
    print(f"backend: {keras.backend.backend()}")
    print(f"{'towers':<10}{'optimizer':<11}{'variables':>10}{'ms/epoch':>10}")
    for towers in ("separate", "stacked"):
        for optimizer in ("adam", "sgd"):
            ms, n_vars = epoch_ms(towers, optimizer)
            print(f"{towers:<10}{optimizer:<11}{n_vars:>10}{ms:>10.1f}")


if __name__ == "__main__":
    main()
