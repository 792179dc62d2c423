"""Keras 3 port of the book's RealNVP on two moons, kept as a benchmark anchor.

The original is Example 6-1 to 6-3 of *Generative Deep Learning* (2nd ed., chapter 6,
seed 002), itself adapted from the keras-io "Density estimation using Real NVP"
example. This port keeps the book's model as it is:

* data: ``make_moons(3000, noise=0.05)`` standardised with a ``Normalization`` layer;
* ``Coupling(input_dim, coupling_dim, regularization)``: a functional model with two
  towers, ``4 x Dense(256, relu, L2)`` then ``Dense(2, tanh)`` for the log-scale ``s``
  and ``4 x Dense(256, relu, L2)`` then ``Dense(2, linear)`` for the shift ``t``;
* ``RealNVP(keras.Model)``: six couplings, masks ``[[0, 1], [1, 0]] * 3``, one
  ``call(x, training=True)`` whose ``direction`` and ``gate`` select data -> latent
  (``training=True``, couplings walked backwards) or latent -> data;
* a ``tfp.distributions.MultivariateNormalDiag`` prior, ``log_loss`` =
  ``-mean(log N(z) + log_det)``, a custom ``train_step`` with ``tf.GradientTape`` and
  a ``test_step``, one ``Mean`` loss tracker; Adam(1e-4), batch 256, 300 epochs.

Faithful on purpose, including what the original gets wrong: the L2 penalties are
declared on every ``Dense`` layer but ``train_step`` never adds ``self.losses`` to the
loss, so they are never optimised (the keras-io log, epoch 300: loss 1.26 / val 1.30,
is a pure NLL for that reason). ``keras_flows`` documents its own choice separately.

TensorFlow backend only, as in the book (TFP distribution, ``tf.GradientTape``).

Smoke test::

    KERAS_BACKEND=tensorflow python bench/ports/realnvp_book.py --epochs 2
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers, metrics, models, optimizers, regularizers

if keras.backend.backend() != "tensorflow":
    raise RuntimeError(
        "bench/ports/realnvp_book.py is a port of the book's TensorFlow code "
        "(tfp.distributions, tf.GradientTape) and needs KERAS_BACKEND=tensorflow. "
        f"Received: backend={keras.backend.backend()!r}"
    )


def load_book_moons(n_samples=3000, noise=0.05, seed=None):
    """The book's data: two moons, standardised to mean 0 and std 1 per coordinate.

    Returns:
        float32 array ``(n_samples, 2)``. The standardisation's Jacobian is not part
        of any NLL reported on it ("nats on standardised data").
    """
    from sklearn import datasets

    data = datasets.make_moons(n_samples, noise=noise, random_state=seed)[0]
    data = data.astype("float32")
    norm = layers.Normalization()
    norm.adapt(data)
    return keras.ops.convert_to_numpy(norm(data))


def Coupling(input_dim, coupling_dim, regularization):
    """Scale and translation nets of one coupling: ``x -> (s, t)``, each ``(B, D)``."""
    input_layer = layers.Input(shape=(input_dim,))

    def dense(units, activation):
        return layers.Dense(
            units,
            activation=activation,
            kernel_regularizer=regularizers.l2(regularization),
        )

    s = input_layer
    for _ in range(4):
        s = dense(coupling_dim, "relu")(s)
    s = dense(input_dim, "tanh")(s)  # bounded log-scale

    t = input_layer
    for _ in range(4):
        t = dense(coupling_dim, "relu")(t)
    t = dense(input_dim, "linear")(t)

    return models.Model(inputs=input_layer, outputs=[s, t])


class RealNVP(models.Model):
    """The book's RealNVP: alternating-mask affine couplings and a Gaussian prior.

    ``call(x, training=True)`` maps data to latent and returns ``(z, log_det)`` with
    ``log_det = log|det dz/dx|``; ``call(z, training=False)`` maps latent to data (its
    second output is 0 and unused).
    """

    def __init__(self, input_dim, coupling_layers, coupling_dim, regularization):
        super().__init__()
        if input_dim != 2:
            # The book's masks are written out for two coordinates.
            raise ValueError(
                "`RealNVP` (book port) uses the masks [[0, 1], [1, 0]] and needs "
                f"input_dim=2. Received: input_dim={input_dim}"
            )
        self.coupling_layers = coupling_layers
        self.distribution = tfp.distributions.MultivariateNormalDiag(
            loc=[0.0, 0.0], scale_diag=[1.0, 1.0]
        )
        self.masks = np.array(
            [[0, 1], [1, 0]] * (coupling_layers // 2), dtype="float32"
        )
        self.loss_tracker = metrics.Mean(name="loss")
        self.layers_list = [
            Coupling(input_dim, coupling_dim, regularization)
            for _ in range(coupling_layers)
        ]

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, x, training=True):
        log_det_inv = 0
        direction = 1
        if training:
            direction = -1
        for i in range(self.coupling_layers)[::direction]:
            x_masked = x * self.masks[i]
            reversed_mask = 1 - self.masks[i]
            s, t = self.layers_list[i](x_masked)
            s *= reversed_mask
            t *= reversed_mask
            # direction = +1 (latent -> data): x * exp(s) + t, gate 0.
            # direction = -1 (data -> latent): (x - t) * exp(-s), gate -1.
            gate = (direction - 1) / 2
            x = (
                reversed_mask
                * (x * tf.exp(direction * s) + direction * t * tf.exp(gate * s))
                + x_masked
            )
            log_det_inv += gate * tf.reduce_sum(s, axis=1)
        return x, log_det_inv

    def log_loss(self, x):
        y, logdet = self(x)
        log_likelihood = self.distribution.log_prob(y) + logdet
        return -tf.reduce_mean(log_likelihood)

    def train_step(self, data):
        # As in the book: the L2 terms in `self.losses` are not added here.
        with tf.GradientTape() as tape:
            loss = self.log_loss(data)
        g = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(g, self.trainable_variables, strict=True))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        loss = self.log_loss(data)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


def build_book_realnvp(
    input_dim=2,
    coupling_layers=6,
    coupling_dim=256,
    regularization=0.01,
    learning_rate=1e-4,
):
    """The book's model, compiled with ``Adam(learning_rate)`` (book: 1e-4).

    Train with ``model.fit(x, batch_size=256, epochs=300, validation_split=0.2)`` on
    ``load_book_moons()``; the reported loss is the NLL in nats per point.
    """
    model = RealNVP(
        input_dim=input_dim,
        coupling_layers=coupling_layers,
        coupling_dim=coupling_dim,
        regularization=regularization,
    )
    model.compile(optimizer=optimizers.Adam(learning_rate=learning_rate))
    return model


def book_nll(model, x, batch_size=4096):
    """Held-out NLL in nats per point, ``-mean(log p(x))``, on standardised data.

    Same quantity as the book's ``log_loss``, evaluated in batches without touching
    the loss tracker. It can differ from Keras' ``val_loss`` by a few hundredths: the
    tracker averages per-batch means with equal weights, the last batch included.
    """
    x = np.asarray(x, dtype="float32")
    total = 0.0
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        z, log_det = model(batch, training=True)  # data -> latent
        log_prob = model.distribution.log_prob(z) + log_det
        total += float(tf.reduce_sum(log_prob))
    return -total / len(x)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    data = load_book_moons(args.samples, seed=0)
    n_train = int(0.8 * len(data))  # what validation_split=0.2 holds out
    model = build_book_realnvp()
    start = time.perf_counter()
    history = model.fit(
        data,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_split=0.2,
        verbose=0,
    )
    seconds = time.perf_counter() - start

    z, _ = model(data[:256], training=True)
    x_back, _ = model(z, training=False)
    err = float(np.max(np.abs(keras.ops.convert_to_numpy(x_back) - data[:256])))
    print(
        f"epochs={args.epochs} seconds={seconds:.1f} "
        f"loss={history.history['loss'][-1]:.3f} "
        f"val_loss={history.history['val_loss'][-1]:.3f} "
        f"held-out NLL={book_nll(model, data[n_train:]):.3f} nats "
        f"params={model.count_params():,} max|g(f(x))-x|={err:.1e}"
    )


if __name__ == "__main__":
    main()
