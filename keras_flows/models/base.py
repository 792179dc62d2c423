"""`FlowModel`: a trainable flow around a functional encoder with a N(0, I) prior."""

import math
import types

import keras
import numpy as np
from keras import ops

from keras_flows.checks import check_finite
from keras_flows.graph import build_decoder, build_log_det_model, initialize

LOG_2PI = math.log(2 * math.pi)


def gaussian_nll(z):
    """Per-sample `-log N(z; 0, I)` = `0.5 * sum(z**2) + 0.5 * D * log(2 pi)`."""
    # Sum over the event axes instead of reshaping to (batch, -1): in a TensorFlow
    # graph with an unknown batch size that reshape loses the static D.
    axes = tuple(range(1, len(z.shape)))
    dims = math.prod(ops.shape(z)[1:])
    return 0.5 * ops.sum(ops.square(z), axis=axes) + 0.5 * dims * LOG_2PI


@keras.saving.register_keras_serializable(package="keras_flows")
class FlowModel(keras.Model):
    """A normalising flow `z = f(x)` with a standard normal prior on `z`.

    `fit(x)` minimises the exact negative log-likelihood in nats per sample:
    `0.5 * |z|^2 + 0.5 * D * log(2 pi)` from here, plus `-mean(log_det)` that each
    volume-changing layer adds to the losses (plus any weight regularisation).

    Args:
        encoder: a functional `keras.Model` from data to latent built from
            `keras_flows.layers` (see `keras_flows.graph.build_decoder`).
        image_shape: `(H, W, C)` of one sample when the data are images (used by
            `keras_flows.viz`), else `None`.
        data_range: `(low, high)` of the data, for bits/dim and to clip samples;
            `None` for unbounded data.
    """

    def __init__(self, encoder, image_shape=None, data_range=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        self.encoder = encoder
        self.decoder = build_decoder(encoder)
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.data_range = None if data_range is None else tuple(data_range)
        # Derived and rebuilt on demand: kept out of Keras' tracking and saving.
        self._derived = types.SimpleNamespace(log_det_model=None)
        # Every variable exists once the functional encoder is built, so
        # `summary()` and `count_params()` work before the first call.
        self.built = True

    # ----------------------------------------------------------------- training

    def call(self, x, training=None):
        return self.encoder(x, training=training)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        zs = y_pred if isinstance(y_pred, (list, tuple)) else [y_pred]
        loss = ops.mean(sum(gaussian_nll(z) for z in zs))
        for extra in self.losses:  # -mean(log_det) per layer, regularisers
            loss = loss + ops.cast(extra, loss.dtype)
        return loss

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.fit` on `x` alone, after checking it and running any
        data-dependent initialisation (Actnorm `data_init=True`) on a batch."""
        if isinstance(x, np.ndarray):
            self._check_data(x)
            initialize(self.encoder, x[: batch_size or 32])
        validation = kwargs.get("validation_data")
        if isinstance(validation, np.ndarray):
            self._check_data(validation, "validation_data")
        return super().fit(x, y, batch_size=batch_size, **kwargs)

    def _check_data(self, x, name="x"):
        """Rejects NaN/inf and samples of the wrong shape with a clear message."""
        x = np.asarray(x)
        expected = tuple(self.encoder.inputs[0].shape[1:])
        if x.shape[1:] != expected:
            raise ValueError(
                f"`{type(self).__name__}` expects samples of shape {expected}. "
                f"Received: {name}.shape={x.shape}"
            )
        check_finite(x, name)
        return x

    # ---------------------------------------------------------------- inference

    @property
    def log_det_model(self):
        """`x -> [z, log_det]`, built on first use from the encoder's layers."""
        if self._derived.log_det_model is None:
            self._derived.log_det_model = build_log_det_model(self.encoder)
        return self._derived.log_det_model

    def encode(self, x, batch_size=256):
        """Data to latent (numpy in, numpy out)."""
        x = self._check_data(x)
        return self.encoder.predict(np.asarray(x), batch_size=batch_size, verbose=0)

    def decode(self, z, batch_size=256):
        """Latent to data (numpy in, numpy out)."""
        return self.decoder.predict(z, batch_size=batch_size, verbose=0)

    def log_prob(self, x, batch_size=256):
        """Exact per-sample log density `log p(x)` in nats, shape `(batch,)`."""
        x = self._check_data(x)
        *zs, log_det = self.log_det_model.predict(
            np.asarray(x), batch_size=batch_size, verbose=0
        )
        log_prior = -sum(np.asarray(gaussian_nll(z.astype("float64"))) for z in zs)
        return log_prior + log_det.astype("float64")

    def bits_per_dim(self, x, batch_size=256, dequantize=True, seed=0):
        """Per-sample bits/dim of 8-bit data in `data_range`.

        `(NLL + D log(256 / (high - low))) / (D log 2)`, with the NLL taken at
        `x + u`, `u ~ U[0, (high - low) / 256)` when `dequantize` (one draw, seeded):
        an unbiased estimate of the bound on the discrete NLL for a model trained
        with the same dequantisation noise (NICE `noise="dequantize"`, Glow).
        """
        if self.data_range is None:
            raise ValueError("`bits_per_dim` needs a model with a `data_range`.")
        x = self._check_data(x)
        low, high = self.data_range
        if dequantize:
            bin_width = (high - low) / 256
            u = np.random.default_rng(seed).uniform(0, bin_width, x.shape)
            x = (x + u).astype("float32")
        dims = int(np.prod(x.shape[1:]))
        nll = -self.log_prob(x, batch_size=batch_size)
        return (nll + dims * np.log(256 / (high - low))) / (dims * np.log(2))

    def sample(self, num, temperature=1.0, seed=None):
        """`num` samples in data space from a prior with std `temperature`."""
        rng = np.random.default_rng(seed)
        shapes = [tuple(z.shape[1:]) for z in self.decoder.inputs]
        zs = [temperature * rng.standard_normal((num, *s)) for s in shapes]
        zs = [z.astype("float32") for z in zs]
        x = self.decode(zs[0] if len(zs) == 1 else zs)
        if self.data_range is not None:
            x = np.clip(x, *self.data_range)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            image_shape=self.image_shape,
            data_range=self.data_range,
        )
        return config
