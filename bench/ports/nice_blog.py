"""Keras 3 port of the blog's NICE-on-MNIST script, kept as a benchmark anchor.

The original (seed 000, "NICE: basic concepts and implementation of flow models",
2018-08-11) is a Keras 2 script. This port keeps its structure step for step so that
timings and losses of `keras_flows` can be compared against "what the blog ran":

* a functional encoder: train-only noise ``x - 0.01 * U[0, 1)``, then four times
  ``Shuffle(reverse) -> SplitVector -> AddCouple(m_k) -> ConcatVector``, then ``Scale``;
* one shared ``SplitVector``, ``AddCouple`` and ``ConcatVector`` instance, four
  ``Shuffle`` instances and four independent coupling nets
  ``m_k = 5 x Dense(1000, relu) -> Dense(392, relu)``;
* ``Scale`` adds ``-sum(kernel)`` (minus the log-determinant) through ``add_loss``;
* loss ``sum(0.5 * z**2, axis=1)`` (the blog omits the ``0.5 * D * log(2 pi)``
  constant, 720.4 nats for D = 784), Adam(1e-3), ``fit(x, x)``;
* the decoder is built the blog's way, by calling the layers' ``inverse()`` in
  reverse order.

Differences from Keras 2 that the port has to make, and nothing else:

* ``K.in_train_phase`` inside a ``Lambda`` becomes the small ``TrainNoise`` layer with a
  ``training`` argument and a ``SeedGenerator`` (JAX needs seeded random ops);
* ``Shuffle`` fixes its indices in ``build`` (not in ``call``) and gathers with
  ``keras.ops.take`` on the last axis instead of transpose-gather-transpose;
* ``Scale.inverse()`` returns a layer reading the forward kernel instead of a ``Lambda``
  with the kernel baked in as a constant.

Runs on the TensorFlow and JAX backends. At the defaults the encoder has 19,158,352
parameters, the blog's "~19.16 M".

Smoke test (one epoch on random data)::

    KERAS_BACKEND=jax python bench/ports/nice_blog.py --samples 4000 --epochs 1
"""

import argparse
import time

import keras
import numpy as np
from keras import layers, ops

BLOG_PARAM_COUNT = 19_158_352


class TrainNoise(layers.Layer):
    """Subtracts ``scale * U[0, 1)`` during training only (the blog's noise)."""

    def __init__(self, scale=0.01, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if training:
            noise = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator)
            return inputs - self.scale * noise
        return inputs

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "seed": self.seed}


class Shuffle(layers.Layer):
    """Permutes the last axis: reversed (the blog's default) or a random order."""

    def __init__(self, idxs=None, mode="reverse", **kwargs):
        super().__init__(**kwargs)
        self.idxs = None if idxs is None else [int(i) for i in idxs]
        self.mode = mode

    def build(self, input_shape):
        if self.idxs is None:
            idxs = list(range(input_shape[-1]))
            if self.mode == "reverse":
                idxs = idxs[::-1]
            elif self.mode == "random":
                np.random.shuffle(idxs)
            self.idxs = idxs

    def call(self, inputs):
        return ops.take(inputs, np.asarray(self.idxs, dtype="int32"), axis=-1)

    def inverse(self):
        return Shuffle(np.argsort(self.idxs).tolist())

    def get_config(self):
        return {**super().get_config(), "idxs": self.idxs, "mode": self.mode}


class SplitVector(layers.Layer):
    """Splits ``(B, D)`` into the even and the odd coordinates, two ``(B, D/2)``."""

    def call(self, inputs):
        v_dim = inputs.shape[-1]
        inputs = ops.reshape(inputs, (-1, v_dim // 2, 2))  # (B, D/2, 2)
        return [inputs[:, :, 0], inputs[:, :, 1]]

    def compute_output_shape(self, input_shape):
        v_dim = input_shape[-1]
        return [(input_shape[0], v_dim // 2), (input_shape[0], v_dim // 2)]

    def inverse(self):
        return ConcatVector()


class ConcatVector(layers.Layer):
    """Interleaves two ``(B, D/2)`` halves back into ``(B, D)``; inverse of split."""

    def call(self, inputs):
        inputs = ops.stack(inputs, axis=2)  # (B, D/2, 2)
        return ops.reshape(inputs, (-1, inputs.shape[1] * inputs.shape[2]))  # (B, D)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], sum(s[-1] for s in input_shape))

    def inverse(self):
        return SplitVector()


class AddCouple(layers.Layer):
    """Additive coupling ``[x1, x2 - m(x1)]``; the inverse adds ``m(x1)`` back."""

    def __init__(self, isinverse=False, **kwargs):
        super().__init__(**kwargs)
        self.isinverse = isinverse

    def call(self, inputs):
        part1, part2, mpart1 = inputs
        if self.isinverse:
            return [part1, part2 + mpart1]
        return [part1, part2 - mpart1]

    def compute_output_shape(self, input_shape):
        return [input_shape[0], input_shape[1]]

    def inverse(self):
        return AddCouple(True)

    def get_config(self):
        return {**super().get_config(), "isinverse": self.isinverse}


class Scale(layers.Layer):
    """Diagonal scaling ``exp(kernel) * x``; adds ``-sum(kernel)`` (= -log|det|)."""

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(1, input_shape[-1]),
            initializer="glorot_normal",
            trainable=True,
        )

    def call(self, inputs):
        self.add_loss(-ops.sum(self.kernel))
        return ops.exp(self.kernel) * inputs

    def inverse(self):
        return ScaleInverse(self)


class ScaleInverse(layers.Layer):
    """``exp(-kernel) * x``, reading the forward ``Scale``'s kernel (not a copy)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return ops.exp(-self.scale.kernel) * inputs


def build_basic_model(v_dim, hidden_units=1000, hidden_layers=5, name=None):
    """The coupling net ``m``: ``hidden_layers x Dense(hidden_units, relu)`` then
    ``Dense(v_dim, relu)`` (the blog's ReLU on the output is kept)."""
    m_in = keras.Input(shape=(v_dim,))
    h = m_in
    for _ in range(hidden_layers):
        h = layers.Dense(hidden_units, activation="relu")(h)
    h = layers.Dense(v_dim, activation="relu")(h)
    return keras.Model(m_in, h, name=name)


def blog_loss(y_true, y_pred):
    """Per-sample ``0.5 * ||z||^2``; the blog leaves out ``0.5 * D * log(2 pi)``."""
    return ops.sum(0.5 * y_pred**2, 1)


def build_blog_nice(input_dim=784, hidden_units=1000, hidden_layers=5, seed=None):
    """Builds and compiles the blog's NICE encoder ``x -> z``.

    Args:
        input_dim: data dimension D (784 for flattened MNIST); must be even.
        hidden_units: width of the hidden layers of each coupling net (blog: 1000).
        hidden_layers: number of hidden layers per coupling net (blog: 5).
        seed: seed of the train-only noise.

    Returns:
        The encoder, a functional `keras.Model` compiled with the blog's loss and
        ``Adam(1e-3)``. Train with ``encoder.fit(x, x, batch_size=128)``. The training
        loss is ``mean(0.5 * ||z||^2) - sum(scale kernel)``, the negative
        log-likelihood in nats per image without the ``0.5 * D * log(2 pi)`` constant.
    """
    if input_dim % 2:
        raise ValueError(
            "`build_blog_nice` needs an even `input_dim`. "
            f"Received: input_dim={input_dim}"
        )
    shuffles = [Shuffle(name=f"shuffle_{k}") for k in range(1, 5)]
    split = SplitVector(name="split_vector")
    couple = AddCouple(name="add_couple")
    concat = ConcatVector(name="concat_vector")
    scale = Scale(name="scale")
    basic_models = [
        build_basic_model(input_dim // 2, hidden_units, hidden_layers, name=f"m_{k}")
        for k in range(1, 5)
    ]

    x_in = keras.Input(shape=(input_dim,))
    x = TrainNoise(0.01, seed=seed, name="train_noise")(x_in)
    # The blog writes the four steps out by hand; the loop is the same graph.
    for shuffle, basic_model in zip(shuffles, basic_models, strict=True):
        x = shuffle(x)
        x1, x2 = split(x)
        mx1 = basic_model(x1)
        x1, x2 = couple([x1, x2, mx1])
        x = concat([x1, x2])
    x = scale(x)

    encoder = keras.Model(x_in, x, name="blog_nice_encoder")
    encoder.compile(loss=blog_loss, optimizer=keras.optimizers.Adam(1e-3))
    return encoder


def build_blog_decoder(encoder):
    """The blog's generator ``z -> x``: the encoder's layers' inverses, in reverse."""
    scale = encoder.get_layer("scale")
    split = encoder.get_layer("split_vector")
    couple = encoder.get_layer("add_couple")
    concat = encoder.get_layer("concat_vector")
    shuffles = [encoder.get_layer(f"shuffle_{k}") for k in range(1, 5)]
    basic_models = [encoder.get_layer(f"m_{k}") for k in range(1, 5)]

    z_in = keras.Input(shape=encoder.input_shape[1:])
    x = scale.inverse()(z_in)
    for shuffle, basic_model in zip(shuffles[::-1], basic_models[::-1], strict=True):
        x1, x2 = concat.inverse()(x)
        mx1 = basic_model(x1)
        x1, x2 = couple.inverse()([x1, x2, mx1])
        x = split.inverse()([x1, x2])
        x = shuffle.inverse()(x)
    return keras.Model(z_in, x, name="blog_nice_decoder")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    encoder = build_blog_nice(seed=0)
    n_params = encoder.count_params()
    if n_params != BLOG_PARAM_COUNT:
        raise SystemExit(f"parameter count {n_params:,} != {BLOG_PARAM_COUNT:,}")

    # Random data in [0, 1), shaped like flattened MNIST / 255.
    x = np.random.default_rng(0).uniform(size=(args.samples, 784)).astype("float32")
    # Warm up on one full and one ragged batch so both shapes are compiled and the
    # timed epochs measure steady-state steps only.
    n_warm = args.batch_size + args.samples % args.batch_size
    encoder.fit(x[:n_warm], x[:n_warm], batch_size=args.batch_size, verbose=0)
    start = time.perf_counter()
    history = encoder.fit(
        x, x, batch_size=args.batch_size, epochs=args.epochs, verbose=0
    )
    seconds = (time.perf_counter() - start) / args.epochs

    decoder = build_blog_decoder(encoder)
    z = encoder.predict(x[:256], verbose=0)
    err = float(np.max(np.abs(decoder.predict(z, verbose=0) - x[:256])))

    print(
        f"backend={keras.backend.backend()} params={n_params:,} "
        f"samples={args.samples} batch={args.batch_size} "
        f"s/epoch={seconds:.2f} loss={history.history['loss'][-1]:.1f} "
        f"max|dec(enc(x))-x|={err:.2e}"
    )


if __name__ == "__main__":
    main()
