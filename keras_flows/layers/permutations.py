"""Mixing the last axis: fixed permutations (NICE, RealNVP) and Glow's 1x1 conv."""

import numpy as np
import scipy.linalg
from keras import ops

from keras_flows.checks import reject
from keras_flows.layers.base import (
    DataInit,
    InvertibleLayer,
    channel_log_det,
    zeros_per_sample,
)
from keras_flows.serialization import register

_MODES = ("reverse", "random")


_LU_FACTORS = ("permutation", "sign", "lower", "upper", "log_s")


def _lu_factors(rotation):
    """`InvConv1x1`'s factors of `rotation = P L U`: the permutation, the signs and
    logs of `U`'s diagonal, and `L`'s and `U`'s off-diagonal parts."""
    p, lower, upper = scipy.linalg.lu(rotation)
    diag = np.diag(upper)
    lower, upper = np.tril(lower, -1), np.triu(upper, 1)
    return p, np.sign(diag), lower, upper, np.log(np.abs(diag))


def _draw_seed():
    # Drawn once and stored in the config, so a reloaded layer permutes the same way.
    return int(np.random.randint(0, 2**31 - 1))


@register
class Shuffle(InvertibleLayer):
    """Permutes the last axis of a vector: reversed (NICE) or at random (RealNVP).

    Forward: `y = x[..., p]`. Inverse: `x = y[..., argsort(p)]`. log|det J| = 0.
    `p` is drawn once from `seed` at build time.

    Args:
        mode: `"reverse"` or `"random"`.
        seed: seed of the random permutation; drawn and stored when `None`.

    Example:
    >>> import numpy as np
    >>> y = Shuffle("reverse")(np.arange(6, dtype="float32").reshape(2, 3))
    >>> np.asarray(y)[0].tolist()
    [2.0, 1.0, 0.0]

    Reference: Dinh et al., NICE (2014), arXiv:1410.8516; Su, "细水长flow之NICE" (2018).
    """

    volume_preserving = True
    config_args = ("mode", "seed")

    def __init__(self, mode="reverse", seed=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in _MODES:
            raise ValueError(
                f"`{type(self).__name__}` mode must be one of {_MODES}. "
                f"Received: mode={mode!r}"
            )
        self.mode = mode
        self.seed = _draw_seed() if seed is None and mode == "random" else seed

    def build(self, input_shape):
        dim = input_shape[-1]
        reject(dim is None, self, "a known last axis", f"input_shape={input_shape}")
        if self.mode == "reverse":
            self.indices = np.arange(dim)[::-1].copy()
        else:
            self.indices = np.random.default_rng(self.seed).permutation(dim)
        self.inverse_indices = np.argsort(self.indices)

    def _permute(self, x, indices):
        if self.mode == "reverse":
            return ops.flip(x, axis=-1)  # a flip is cheaper than a gather
        return ops.take(x, indices, axis=-1)

    def _forward(self, x):
        return self._permute(x, self.indices), zeros_per_sample(x)

    def _inverse(self, y):
        return self._permute(y, self.inverse_indices), zeros_per_sample(y)


@register
class Permute(Shuffle):
    """Permutes the channels (last axis) of images, as Glow's `Permute` layer (not
    `keras.layers.Permute`, which reorders axes). As `Shuffle` otherwise.

    Reference: Kingma & Dhariwal, Glow (2018), arXiv:1807.03039.
    """


@register
class InvConv1x1(DataInit, InvertibleLayer):
    """Glow's invertible 1x1 convolution, LU-parameterised:
    `W = P @ (L + I) @ (U + diag(sign * exp(log_s)))` with `P` and `sign` fixed from
    the LU decomposition of the initial rotation (random, or with `data_init` the
    first batch's principal axes), `L` strictly lower and `U` strictly upper
    triangular.

    Forward: `y = W x` at each pixel of `(batch, H, W, C)`, or of `(batch, C)`.
    Inverse: `x = W^-1 y`.
    log|det J| = `H * W * sum(log_s)`.

    Args:
        seed: seed of the initial random rotation; drawn and stored when `None`.
        data_init: start instead from the principal axes of the first batch
            (`initialize`, run by `fit`), in order of decreasing variance: a
            rotation that leaves the channels uncorrelated on that batch.

    Reference: Kingma & Dhariwal, Glow (2018), arXiv:1807.03039, section 3.2.
    """

    config_args = ("seed", "data_init")

    def __init__(self, seed=None, data_init=False, **kwargs):
        super().__init__(**kwargs)
        self.seed = _draw_seed() if seed is None else seed
        self.data_init = data_init

    def build(self, input_shape):
        channels = input_shape[-1]
        needs, received = "a known last axis", f"input_shape={input_shape}"
        reject(channels is None, self, needs, received)
        rng = np.random.default_rng(self.seed)
        rotation = np.linalg.qr(rng.normal(size=(channels, channels)))[0]

        # Not autocast: the kernel and its inverse are computed in float32 (in
        # float16 they are not inverses to float16 precision), then cast.
        def factor(name, value, trainable=True):
            init = lambda shape, dtype=None: value.astype("float32")
            kw = dict(initializer=init, trainable=trainable, autocast=False)
            return self.add_weight(name=name, shape=value.shape, **kw)

        for name, value in zip(_LU_FACTORS, _lu_factors(rotation)):
            trainable = name not in ("permutation", "sign")
            setattr(self, name, factor(name, value, trainable))
        if self.data_init:
            self.add_initialized_flag()
        self.lower_mask = np.tril(np.ones((channels, channels), "float32"), -1)
        self.eye = np.eye(channels, dtype="float32")

    def _initialize(self, x):
        # The principal axes of `x`, the first output channel along the direction
        # it varies most.
        x = np.asarray(ops.convert_to_numpy(x), "float64")
        values, vectors = np.linalg.eigh(np.cov(x.reshape(-1, x.shape[-1]).T))
        vectors = vectors[:, ::-1]  # by decreasing variance
        largest = np.argmax(np.abs(vectors), axis=0)  # each axis points its way
        vectors = vectors * np.sign(vectors[largest, np.arange(len(values))])
        for name, value in zip(_LU_FACTORS, _lu_factors(vectors.T)):
            getattr(self, name).assign(value.astype("float32"))

    def kernel(self):
        """The current weight matrix `W = P L U` in float32, from the factors."""
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * ops.transpose(self.lower_mask)
        upper = upper + self.eye * (self.sign * ops.exp(self.log_s))
        return ops.matmul(self.permutation, ops.matmul(lower, upper))

    def _forward(self, x):
        kernel = ops.cast(ops.transpose(self.kernel()), x.dtype)
        return ops.matmul(x, kernel), channel_log_det(self.log_s, x)

    def _inverse(self, y):
        kernel = ops.cast(ops.transpose(ops.inv(self.kernel())), y.dtype)
        return ops.matmul(y, kernel), -channel_log_det(self.log_s, y)
