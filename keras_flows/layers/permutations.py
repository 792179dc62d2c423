"""Mixing the last axis: fixed permutations (NICE, RealNVP) and Glow's 1x1 conv."""

import numpy as np
import scipy.linalg
from keras import ops

from keras_flows.layers.base import (
    InvertibleLayer,
    per_sample,
    register,
    spatial_size,
    zeros_per_sample,
)

_MODES = ("reverse", "random")


def _draw_seed():
    # Drawn once and stored in the config, so a reloaded layer permutes the same way.
    return int(np.random.randint(0, 2**31 - 1))


@register
class Shuffle(InvertibleLayer):
    """Permutes the last axis of a vector: reversed (NICE) or at random (RealNVP).

    Forward: `y = x[..., p]`. Inverse: `x = y[..., argsort(p)]`. log|det J| = 0.

    The permutation is drawn once from `seed` at build time and stored; nothing is
    mutated in `call`.

    Args:
        mode: `"reverse"` or `"random"`.
        seed: seed of the random permutation; drawn and stored when `None`.

    Input shape:
        `(batch, ..., D)`.

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np
    >>> x = np.arange(6, dtype="float32").reshape(2, 3)
    >>> shuffle = Shuffle("reverse")
    >>> y = shuffle(x)
    >>> np.asarray(y)[0].tolist()
    [2.0, 1.0, 0.0]
    >>> np.allclose(shuffle.inverse()(y), x)
    True

    Reference:
        Dinh et al., NICE (2014), arXiv:1410.8516; Su, "细水长flow之NICE" (2018).
    """

    volume_preserving = True

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
        if dim is None:
            raise ValueError(
                f"`{type(self).__name__}` needs a known last axis. "
                f"Received: input_shape={input_shape}"
            )
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

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, seed=self.seed)
        return config


@register
class Permute(Shuffle):
    """Permutes the channels (last axis) of images, as Glow's `Permute` layer.

    Unlike `keras.layers.Permute`, which reorders *axes*, this reorders the entries
    of the channel axis, identically at every pixel.

    Forward: `y[..., c] = x[..., p[c]]`. Inverse: via `argsort(p)`. log|det J| = 0.

    Args:
        mode: `"reverse"` or `"random"`.
        seed: seed of the random permutation; drawn and stored when `None`.

    Input shape:
        `(batch, H, W, C)` (any rank >= 2 works).

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np
    >>> x = np.random.rand(2, 4, 4, 6).astype("float32")
    >>> permute = Permute("random", seed=1)
    >>> np.allclose(permute.inverse()(permute(x)), x)
    True

    Reference:
        Kingma & Dhariwal, Glow (2018), arXiv:1807.03039.
    """


@register
class InvConv1x1(InvertibleLayer):
    """Glow's invertible 1x1 convolution, LU-parameterised.

    `W = P @ (L + I) @ (U + diag(sign * exp(log_s)))` with `P` and `sign` fixed from
    the LU decomposition of a random rotation, `L` strictly lower and `U` strictly
    upper triangular. The weight is recomputed from its factors on every call.

    Forward: `y = W x` at each pixel (`y = x @ W.T`).
    Inverse: `x = W^-1 y`.
    log|det J| = `H * W * sum(log_s)`.

    Args:
        seed: seed of the initial random rotation; drawn and stored when `None`.

    Input shape:
        `(batch, H, W, C)` or `(batch, C)`.

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np
    >>> x = np.random.rand(2, 4, 4, 6).astype("float32")
    >>> conv = InvConv1x1(seed=0)
    >>> np.allclose(conv.inverse()(conv(x)), x, atol=1e-5)
    True

    Reference:
        Kingma & Dhariwal, Glow (2018), arXiv:1807.03039, section 3.2.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = _draw_seed() if seed is None else seed

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "`InvConv1x1` needs a known channel axis. "
                f"Received: input_shape={input_shape}"
            )
        rng = np.random.default_rng(self.seed)
        rotation = np.linalg.qr(rng.normal(size=(channels, channels)))[0]
        p, lower, upper = scipy.linalg.lu(rotation)  # rotation = p @ lower @ upper
        diag = np.diag(upper)

        def const(value):
            return lambda shape, dtype=None: value.astype("float32")

        # No factor is autocast: the kernel and its inverse are computed from the
        # float32 factors (an LU product or inverse in float16 is not invertible to
        # float16 precision) and only then cast to the compute dtype of `x`.

        self.permutation = self.add_weight(
            name="permutation",
            shape=p.shape,
            initializer=const(p),
            trainable=False,
            autocast=False,
        )
        self.sign = self.add_weight(
            name="sign",
            shape=diag.shape,
            initializer=const(np.sign(diag)),
            trainable=False,
            autocast=False,
        )
        self.lower = self.add_weight(
            name="lower",
            shape=p.shape,
            initializer=const(np.tril(lower, -1)),
            autocast=False,
        )
        self.upper = self.add_weight(
            name="upper",
            shape=p.shape,
            initializer=const(np.triu(upper, 1)),
            autocast=False,
        )
        self.log_s = self.add_weight(
            name="log_s",
            shape=diag.shape,
            initializer=const(np.log(np.abs(diag))),
            autocast=False,
        )
        self.lower_mask = np.tril(np.ones((channels, channels), "float32"), -1)
        self.eye = np.eye(channels, dtype="float32")

    def kernel(self):
        """The current weight matrix `W = P L U` in float32, from the factors."""
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * ops.transpose(self.lower_mask)
        upper = upper + self.eye * (self.sign * ops.exp(self.log_s))
        return ops.matmul(self.permutation, ops.matmul(lower, upper))

    def _log_det(self, x):
        return per_sample(ops.sum(self.log_s) * spatial_size(x), x)

    def _forward(self, x):
        kernel = ops.cast(ops.transpose(self.kernel()), x.dtype)
        return ops.matmul(x, kernel), self._log_det(x)

    def _inverse(self, y):
        kernel = ops.cast(ops.transpose(ops.inv(self.kernel())), y.dtype)
        return ops.matmul(y, kernel), -self._log_det(y)

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config
