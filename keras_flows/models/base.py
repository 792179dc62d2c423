"""`GenerativeModel`, the numpy API every model shares, and `FlowModel`, a
trainable flow around a functional encoder with a N(0, I) prior."""

import itertools
import math
import types

import keras
import numpy as np
from keras import ops
from scipy.special import log_softmax

from keras_flows.checks import (
    check_finite,
    check_n_bits,
    check_temperature,
    is_int,
    reject,
)
from keras_flows.graph import (
    build_decoder,
    build_log_det_model,
    initialize,
    needs_initialization,
)
from keras_flows.layers.noise import quantize
from keras_flows.models.conditional import one_hot_labels
from keras_flows.serialization import deserialize_layers, register

LOG_2PI = math.log(2 * math.pi)


def constructor_arguments(local_vars):
    """A model constructor's arguments from its `locals()`, for `get_config`; a
    `seed` of `None` is drawn once and stored, so a reloaded model rebuilds the
    same random permutations."""
    skip = ("self", "kwargs", "__class__")
    config = {k: v for k, v in local_vars.items() if k not in skip}
    if "input_shape" in config:
        config["input_shape"] = tuple(config["input_shape"])
    if config.get("seed", 0) is None:
        config["seed"] = int(np.random.randint(0, 2**31 - 1))
    return config


def gaussian_nll(z):
    """Per-sample `-log N(z; 0, I) = 0.5 |z|^2 + 0.5 D log(2 pi)`, in float32
    whatever the compute dtype (a float16 sum over thousands of dimensions would
    lose the likelihood)."""
    # No reshape to (batch, -1): a TF graph with an unknown batch loses the static D.
    z = ops.cast(z, "float32")
    axes = tuple(range(1, len(z.shape)))
    dims = math.prod(ops.shape(z)[1:])
    return 0.5 * ops.sum(ops.square(z), axis=axes) + 0.5 * dims * LOG_2PI


class GenerativeModel(keras.Model):
    """What every model shares: data in, a latent out, and back (numpy API).

    A subclass sets `encoder` (data -> latent, functional) and `decoder`
    (latent -> data) and implements `log_prob`; an override keeps the base
    method's positional parameters (`x`, then `labels`) and adds keyword-only
    ones. `exact_likelihood` says whether `log_prob` is exact (a flow) or a
    lower bound (a VAE); `weights_model` is the uncompiled model holding every
    weight, which a run folder saves.

    Args:
        image_shape: `(H, W, C)` of one sample for image data, else `None`.
        data_range: `(low, high)` of the data (bits/dim, sample clipping), or `None`.
        n_bits: bits per pixel of the data, for `bits_per_dim`.
        num_classes: `K` for a class-conditional model, else `None`.
        config: a built-in model's constructor arguments, else `None`.
    """

    exact_likelihood = True
    # Constructor arguments added after models were saved, each with the value
    # that rebuilds those models as they were: a config without one gets it.
    added_arguments = {}

    def __init__(
        self,
        image_shape=None,
        data_range=None,
        n_bits=8,
        num_classes=None,
        config=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.data_range = None if data_range is None else tuple(data_range)
        self.n_bits = check_n_bits(n_bits, type(self).__name__)
        self.num_classes = num_classes
        self.config = config

    def get_config(self):
        if self.config is None:
            raise NotImplementedError(
                f"`{type(self).__name__}` passes no `config` to `GenerativeModel` "
                "and does not define `get_config`."
            )
        return {**self.config, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**{**cls.added_arguments, **config})

    @property
    def weights_model(self):
        return self.encoder

    @property
    def sample_shape(self):
        """The shape of one sample as the encoder takes it."""
        return tuple(self.encoder.inputs[0].shape[1:])

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        """`keras.Model.fit` on `x` alone (`fit(x, y)`, with integer labels, for a
        class-conditional model), after checking the data and running any
        data-dependent initialisation (Actnorm `data_init=True`) on the first
        batch of an array, `tf.data.Dataset`, `PyDataset` or generator."""
        validation = kwargs.get("validation_data")
        if self.num_classes is not None:  # the encoder takes `[x, one_hot(y)]`
            if not isinstance(x, np.ndarray) or y is None:
                raise ValueError(
                    f"A class-conditional `{type(self).__name__}` trains with "
                    "`fit(x, y)`: an array of samples and one integer label each."
                )
            x, y = self._inputs(x, y, labels_name="y"), None
            if validation is not None:
                if not isinstance(validation, (tuple, list)) or len(validation) != 2:
                    raise ValueError(
                        "`validation_data` of a class-conditional model is "
                        "`(x_val, y_val)`, the samples and their integer labels."
                    )
                kwargs["validation_data"] = (
                    self._inputs(*validation, "x_val", "y_val"),
                )
            if self.needs_initialization:
                initialize(self.encoder, [part[: batch_size or 32] for part in x])
            return super().fit(x, y, batch_size=batch_size, **kwargs)
        if isinstance(x, np.ndarray):
            self._check_data(x)
        if isinstance(validation, np.ndarray):
            self._check_data(validation, "validation_data")
        if self.needs_initialization:
            first, x = _peek_first_batch(x, batch_size or 32)
            initialize(self.encoder, self._check_data(first, "the first batch"))
        return super().fit(x, y, batch_size=batch_size, **kwargs)

    def train_on_batch(self, x=None, y=None, **kwargs):
        """`keras.Model.train_on_batch`, after checking the batch and running any
        data-dependent initialisation on it, as `fit` does on its first batch."""
        if self.num_classes is not None:
            x, y = self._inputs(x, y, labels_name="y"), None
        else:
            x = self._check_data(x, "the batch")
        if self.needs_initialization:
            initialize(self.encoder, x)
        return super().train_on_batch(x, y, **kwargs)

    def _inputs(self, x, labels=None, name="x", labels_name="labels"):
        """The encoder's input: `x` (checked), or `[x, one_hot(labels)]`."""
        x = self._check_data(x, name)
        labels = self._label_inputs(labels, len(x), labels_name)
        return [x, *labels] if labels else x

    def _label_inputs(self, labels, count, name="labels"):
        """`[]` for an unconditional model, else `[one_hot(labels)]`, checked."""
        if self.num_classes is None:
            if labels is not None:
                raise ValueError(
                    f"`{type(self).__name__}` is not class-conditional: it takes "
                    f"no {name} (see `Glow(num_classes=K)`)."
                )
            return []
        return [one_hot_labels(labels, count, self.num_classes, name)]

    @property
    def needs_initialization(self):
        """Whether a layer still waits for its data-dependent initialisation."""
        return needs_initialization(self.encoder)

    def _check_data(self, x, name="x"):
        """Rejects NaN/inf and samples of the wrong shape with a clear message."""
        x = np.asarray(x)
        if x.shape[1:] != self.sample_shape:
            raise ValueError(
                f"`{type(self).__name__}` expects samples of shape "
                f"{self.sample_shape}. Received: {name}.shape={x.shape}"
            )
        check_finite(x, name)
        return x

    def encode(self, x, labels=None, *, batch_size=256):
        """Data to latent, numpy in and out; `labels` for a class-conditional
        model (an int for all, or one per sample)."""
        return self.encoder.predict(
            self._inputs(x, labels), batch_size=batch_size, verbose=0
        )

    def decode(self, z, labels=None, *, batch_size=256):
        """Latent to data, numpy in and out; `labels` as in `encode`."""
        zs = list(z) if isinstance(z, (list, tuple)) else [z]
        zs += self._label_inputs(labels, len(zs[0]))
        inputs = zs[0] if len(zs) == 1 else zs
        return self.decoder.predict(inputs, batch_size=batch_size, verbose=0)

    def reconstruct(self, x, labels=None, *, batch_size=256):
        """`decode(encode(x))`: `x` up to float error for a flow."""
        z = self.encode(x, labels, batch_size=batch_size)
        return self.decode(z, labels, batch_size=batch_size)

    def log_prob(self, x, labels=None, *, batch_size=256):
        """Per-sample `log p(x)` in nats (or a lower bound), shape `(batch,)`."""
        raise NotImplementedError

    def bits_per_dim(
        self, x, labels=None, *, batch_size=256, dequantize=True, seed=0, **options
    ):
        """Per-sample bits/dim of `n_bits` data in `data_range`:
        `(-log_prob(x') - D log w) / (D log 2)` with `w = (high - low) / 2**n_bits`.
        With `dequantize`, `x'` is one seeded draw of `dequantize_data(x)`, as in
        training (an unbiased estimate of the bound on the discrete NLL); else
        `x' = x`, already dequantised. `labels` and `options` go to `log_prob`."""
        if self.data_range is None:
            raise ValueError("`bits_per_dim` needs a model with a `data_range`.")
        x = self._check_data(x)
        width = (self.data_range[1] - self.data_range[0]) / 2**self.n_bits
        if dequantize:
            x = dequantize_data(x, self.data_range, self.n_bits, seed)[0]
        dims = math.prod(x.shape[1:])
        log_p = self.log_prob(x, labels, batch_size=batch_size, **options)
        return (-log_p - dims * np.log(width)) / (dims * np.log(2))

    def sample(self, num, temperature=1.0, seed=None, labels=None):
        """`num` samples in data space, clipped to `data_range`: every latent
        part (each prior of a multi-scale model) is drawn from
        `N(0, temperature^2)` and decoded; `temperature=0` is the mode, and one
        `seed` draws the same noise at every temperature. `labels` as in `encode`."""
        temperature = check_temperature(temperature)
        label_inputs = self._label_inputs(labels, num)  # checked before drawing
        rng = np.random.default_rng(seed)
        latents = self.decoder.inputs[: len(self.decoder.inputs) - len(label_inputs)]
        shapes = [tuple(z.shape[1:]) for z in latents]
        zs = [(temperature * rng.standard_normal((num, *s))).astype("float32")
              for s in shapes]  # fmt: skip
        x = self.decode(zs[0] if len(zs) == 1 else zs, labels)
        if self.data_range is not None:
            x = np.clip(x, *self.data_range)
        return x

    def interpolate(self, x_a, x_b, steps=9, *, batch_size=256):
        """Samples decoded along the straight line from `encode(x_a)` to
        `encode(x_b)`, `steps` points with both ends (the reconstructions):
        `(steps, ...)` for one pair, `(n, steps, ...)` for batches `(n, ...)`."""
        t = np.linspace(0.0, 1.0, steps, dtype="float32")
        weights = np.stack([1 - t, t], axis=1)  # (steps, 2)
        return self._decode_blends("interpolate", [x_a, x_b], weights, batch_size)

    def latent_direction(self, x_with, x_without, *, batch_size=256):
        """`mean(encode(x_with)) - mean(encode(x_without))`: the Glow paper's
        manipulation vector from one group of samples to another (an attribute
        absent to present, or class a to class b)."""
        z_with = self.encode(x_with, batch_size=batch_size)
        z_without = self.encode(x_without, batch_size=batch_size)
        return z_with.mean(axis=0) - z_without.mean(axis=0)

    def manipulate(self, x, direction, strengths=(-1.0, -0.5, 0.0, 0.5, 1.0),
                   batch_size=256):  # fmt: skip
        """`decode(encode(x) + s * direction)` for every strength `s`, clipped
        to `data_range` (`s = 0` is the reconstruction): `(len(strengths), ...)`
        for one sample, `(n, len(strengths), ...)` for a batch."""
        x = np.asarray(x)
        single = x.shape == self.sample_shape
        z = self.encode(x[None] if single else x, batch_size=batch_size)
        direction = np.asarray(direction, "float32")
        needs = f"a direction of the latent's shape {z.shape[1:]}"
        bad = direction.shape != z.shape[1:]
        reject(bad, "manipulate", needs, f"direction.shape={direction.shape}")
        s = np.asarray(strengths, "float32").reshape(1, -1, *[1] * direction.ndim)
        moved = z[:, None] + s * direction  # (n, len(strengths), ...)
        x = self.decode(moved.reshape(-1, *z.shape[1:]), batch_size=batch_size)
        x = x.reshape(len(z), s.shape[1], *self.sample_shape)
        if self.data_range is not None:
            x = np.clip(x, *self.data_range)
        return x[0] if single else x

    def interpolate_corners(self, x_tl, x_tr, x_bl, x_br, steps=9, *, batch_size=256):
        """A `steps x steps` grid decoded from the bilinear blend of the codes of
        its four corners (the f-VAE post's figure): row `i`, column `j` decodes
        `(1-a)(1-b) z_tl + (1-a) b z_tr + a (1-b) z_bl + a b z_br`, with
        `a = i / (steps - 1)` and `b = j / (steps - 1)`: `(steps, steps, ...)`, or
        `(n, steps, steps, ...)` for batches `(n, ...)`."""
        bad = not is_int(steps) or steps < 2
        reject(bad, "interpolate_corners", "steps >= 2", f"steps={steps!r}")
        t = np.linspace(0.0, 1.0, steps, dtype="float32")
        a, b = np.meshgrid(t, t, indexing="ij")  # rows, columns
        weights = np.stack([(1 - a) * (1 - b), (1 - a) * b, a * (1 - b), a * b], -1)
        corners = [x_tl, x_tr, x_bl, x_br]
        return self._decode_blends("interpolate_corners", corners, weights, batch_size)

    def _decode_blends(self, name, samples, weights, batch_size):
        """Decodes `sum_k weights[..., k] * encode(samples[k])`, `weights`
        `(*grid, len(samples))`: `(*grid, ...)` or, for batches, `(n, *grid, ...)`."""
        samples = [np.asarray(x) for x in samples]
        bad = any(x.shape != samples[0].shape for x in samples)
        shapes = f"shapes {[x.shape for x in samples]}"
        reject(bad, name, "samples of the same shape", shapes)
        single = samples[0].shape == self.sample_shape
        if single:
            samples = [x[None] for x in samples]
        n, k = len(samples[0]), len(samples)
        z = self.encode(np.concatenate(samples), batch_size=batch_size)  # (k n, ...)
        latent_shape = z.shape[1:]  # flat for most models, (h, w, c) for some
        z = np.einsum("pk,knd->npd", weights.reshape(-1, k), z.reshape(k, n, -1))
        x = self.decode(z.reshape(-1, *latent_shape), batch_size=batch_size)
        x = x.reshape(n, *weights.shape[:-1], *self.sample_shape)
        return x[0] if single else x


@register
class FlowModel(GenerativeModel):
    """A normalising flow `z = f(x)` with a standard normal prior on `z`.

    `fit(x)` minimises the exact NLL in nats per sample: `call` adds the prior's
    `mean(gaussian_nll(z))` and each volume-changing layer its `-mean(log_det)`.

    Args:
        encoder: a functional `keras.Model` from data to latent, built from
            `keras_flows.layers` (with a one-hot label as its last input for
            `num_classes=K`); the decoder is `graph.build_decoder(encoder)`.
        **kwargs: `GenerativeModel`'s arguments and Keras'.
    """

    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = build_decoder(encoder)
        # Derived and rebuilt on demand: kept out of Keras' tracking and saving.
        self._derived = types.SimpleNamespace(log_det_model=None)
        self.built = True  # the functional encoder holds every variable already

    @classmethod
    def from_config(cls, config):
        return super().from_config(deserialize_layers(config, "encoder"))

    def call(self, x, training=None):
        z = self.encoder(x, training=training)
        zs = z if isinstance(z, (list, tuple)) else [z]
        self.add_loss(ops.mean(sum(gaussian_nll(part) for part in zs)))
        return z

    @property
    def log_det_model(self):
        """`x -> [z, log_det]`, built on first use from the encoder's layers."""
        if self._derived.log_det_model is None:
            self._derived.log_det_model = build_log_det_model(self.encoder)
        return self._derived.log_det_model

    def log_prob(self, x, labels=None, *, batch_size=256):
        """Exact per-sample `log p(x)` (or `log p(x | labels)`) in nats, float64."""
        inputs = self._inputs(x, labels)
        outputs = self.log_det_model.predict(inputs, batch_size=batch_size, verbose=0)
        *zs, log_det = outputs
        log_prior = -sum(np.asarray(gaussian_nll(z.astype("float64"))) for z in zs)
        return log_prior + log_det.astype("float64")

    def class_log_posterior(self, x, class_prior=None, *, batch_size=256):
        """`log p(y | x)` of a class-conditional model for every class,
        `(batch, K)`: `log p(x | y) + log p(y)` normalised over `y`, with
        `class_prior` the probabilities `p(y)` (uniform when `None`)."""
        if self.num_classes is None:
            raise ValueError(
                f"`{type(self).__name__}` is not class-conditional: it has no "
                "classes to predict (see `Glow(num_classes=K)`)."
            )
        x = self._check_data(x)
        k = self.num_classes
        prior = np.full(k, 1.0 / k) if class_prior is None else np.asarray(class_prior)
        if prior.shape != (k,) or np.any(prior < 0) or not np.isclose(prior.sum(), 1):
            raise ValueError(
                f"`class_prior` must be {k} probabilities that sum to 1. "
                f"Received: {class_prior!r}"
            )
        log_p = [self.log_prob(x, y, batch_size=batch_size) for y in range(k)]
        return log_softmax(np.stack(log_p, axis=1) + np.log(prior), axis=1)

    def predict_class(self, x, class_prior=None, *, batch_size=256):
        """The generative classifier: per sample, the class `y` with the largest
        `log p(x | y) + log p(y)`."""
        log_posterior = self.class_log_posterior(x, class_prior, batch_size=batch_size)
        return np.argmax(log_posterior, axis=1)

    def get_config(self):
        if self.config is not None:  # a built-in model: its constructor arguments
            return super().get_config()
        config = keras.Model.get_config(self)
        config["encoder"] = keras.saving.serialize_keras_object(self.encoder)
        for key in ("image_shape", "data_range", "n_bits", "num_classes"):
            config[key] = getattr(self, key)
        return config


def dequantize_data(x, data_range, n_bits=8, seed=0):
    """`(quantize(x) + u, w)` as float32, `u ~ U[0, w)` one seeded draw with `w`
    the width of a level (see `layers.noise.quantize`), as `layers.Dequantize`
    trains: a validation loss on such data is the same bound as `bits_per_dim`."""
    x = quantize(np.asarray(x, "float64"), data_range, n_bits, xp=np)
    width = (data_range[1] - data_range[0]) / 2**n_bits
    x = x + np.random.default_rng(seed).uniform(0, width, x.shape)
    return x.astype("float32"), width


def _peek_first_batch(x, batch_size):
    """The first batch of any data `fit` accepts, and the data to pass on (a
    generator is re-chained so its first batch is not lost)."""
    if isinstance(x, keras.utils.PyDataset):
        first = x[0]
    elif hasattr(x, "take") and hasattr(x, "element_spec"):  # tf.data.Dataset
        first = next(iter(x.take(1)))
    elif hasattr(x, "__getitem__") and hasattr(x, "shape"):  # arrays, tensors
        return np.asarray(x[:batch_size]), x
    elif hasattr(x, "__next__") or hasattr(x, "__iter__"):  # generators
        iterator = iter(x)
        first = next(iterator)
        x = (batch for batch in itertools.chain([first], iterator))
    else:
        raise ValueError(
            "Data-dependent initialisation needs the first batch of `x`. "
            f"Received: x of type {type(x).__name__}"
        )
    if isinstance(first, (tuple, list)):  # (x,) or (x, y) batches
        first = first[0]
    return np.asarray(first), x
