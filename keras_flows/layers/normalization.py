"""Element-wise affine maps with learned (or conditioned) scales: Scale, Actnorm,
CondActnorm."""

import keras
from keras import ops

from keras_flows.checks import reject
from keras_flows.layers.base import (
    DataInit,
    InvertibleLayer,
    channel_log_det,
    per_sample,
    sum_per_sample,
)
from keras_flows.serialization import register


@register
class Scale(InvertibleLayer):
    """NICE's final diagonal scaling, a learned per-dimension prior std.

    Forward: `z = exp(s) * h`. Inverse: `h = exp(-s) * z`. log|det J| = `sum(s)`.
    `s` has a `glorot_normal` init, as in the blog.

    Example:
    >>> import numpy as np
    >>> x = np.random.rand(3, 4).astype("float32")
    >>> scale = Scale()
    >>> y, log_det = scale.forward_and_log_det(x)
    >>> tuple(log_det.shape)
    (3,)
    >>> np.allclose(scale.inverse()(y), x, atol=1e-6)
    True

    Reference: Dinh et al., NICE (2014), section 3.3; Su, "细水长flow之NICE" (2018).
    """

    def build(self, input_shape):
        # Not autocast: the log-det sums the float32 kernel; only `x`'s scale is cast.
        kw = dict(initializer="glorot_normal", autocast=False)
        self.kernel = self.add_weight(name="kernel", shape=(1, input_shape[-1]), **kw)

    def _forward(self, x):
        scale = ops.cast(ops.exp(self.kernel), x.dtype)
        return scale * x, per_sample(ops.sum(self.kernel), x)

    def _inverse(self, z):
        scale = ops.cast(ops.exp(-self.kernel), z.dtype)
        return scale * z, per_sample(-ops.sum(self.kernel), z)


@register
class Actnorm(DataInit, InvertibleLayer):
    """Glow's activation normalisation: a per-channel affine map.

    Forward: `y = exp(log_scale) * x + shift`.
    Inverse: `x = (y - shift) * exp(-log_scale)`.
    log|det J| = `H * W * sum(log_scale)`.

    Both parameters start at zero (the identity). With `data_init=True`,
    `initialize(x_batch)` (run on the first batch of `fit`) sets them so that batch
    leaves with zero mean and unit variance per channel; the saved flag
    `initialized` keeps reloaded weights from being re-initialised.

    Args:
        use_shift: learn `shift` (else only the scale).
        data_init: use the data-dependent initialisation.

    Example:
    >>> import numpy as np
    >>> x = np.random.rand(2, 4, 4, 3).astype("float32")
    >>> actnorm = Actnorm(data_init=True)
    >>> actnorm.initialize(x)
    >>> y = np.asarray(actnorm(x))
    >>> np.allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    True

    Reference: Kingma & Dhariwal, Glow (2018), section 3.1.
    """

    config_args = ("use_shift", "data_init")

    def __init__(self, use_shift=True, data_init=False, **kwargs):
        super().__init__(**kwargs)
        self.use_shift, self.data_init = use_shift, data_init

    def build(self, input_shape):
        # Not autocast, as in `Scale`.
        kw = dict(shape=(input_shape[-1],), initializer="zeros", autocast=False)
        self.log_scale = self.add_weight(name="log_scale", **kw)
        self.shift = self.add_weight(name="shift", trainable=self.use_shift, **kw)
        self.add_initialized_flag()

    def _initialize(self, x):
        axes = tuple(range(len(x.shape) - 1))
        log_scale = -ops.log(ops.std(x, axis=axes) + 1e-6)
        self.log_scale.assign(log_scale)
        if self.use_shift:
            self.shift.assign(-ops.mean(x, axis=axes) * ops.exp(log_scale))

    def _forward(self, x):
        scale = ops.cast(ops.exp(self.log_scale), x.dtype)
        y = scale * x + ops.cast(self.shift, x.dtype)
        return y, channel_log_det(self.log_scale, x)

    def _inverse(self, y):
        scale = ops.cast(ops.exp(-self.log_scale), y.dtype)
        x = (y - ops.cast(self.shift, y.dtype)) * scale
        return x, -channel_log_det(self.log_scale, y)


@register
class CondActnorm(InvertibleLayer):
    """An Actnorm whose scale and shift come from a condition: Glow's learned prior
    for the channels factored out at each level.

    Forward: `[x, cond] -> exp(ls(cond)) * x + sh(cond)`.
    Inverse: `[y, cond] -> (y - sh(cond)) * exp(-ls(cond))`.
    log|det J| = `sum(ls(cond))` over pixels and channels.
    `ls, sh` come from one zero-initialised 3x3 convolution of `cond` `(batch, H,
    W, C')`, so the layer starts as the identity (a standard normal prior).

    Reference: Su, "细水长flow之RealNVP与Glow" (2018), the multi-scale conditional
    prior; Kingma & Dhariwal, Glow (2018), `split2d` in the official code.
    """

    condition_inputs = (1,)

    def build(self, input_shape):
        bad = len(input_shape) != 2 or any(len(s) != 4 for s in input_shape)
        bad = bad or tuple(input_shape[0][1:3]) != tuple(input_shape[1][1:3])
        needs = "`[x, cond]`, two images (batch, H, W, C) of the same height and width"
        reject(bad, "CondActnorm", needs, f"input_shape={input_shape}")
        self.channels = input_shape[0][-1]
        kw = dict(padding="same", kernel_initializer="zeros", dtype=self.dtype_policy)
        self.conv = keras.layers.Conv2D(2 * self.channels, 3, **kw)
        self.conv.build(tuple(input_shape[1]))

    def _scale_and_shift(self, cond):
        h = self.conv(cond)
        return h[..., : self.channels], h[..., self.channels :]

    def _forward(self, inputs):
        x, cond = inputs
        log_scale, shift = self._scale_and_shift(cond)
        return ops.exp(log_scale) * x + shift, sum_per_sample(log_scale)

    def _inverse(self, inputs):
        y, cond = inputs
        log_scale, shift = self._scale_and_shift(cond)
        return (y - shift) * ops.exp(-log_scale), -sum_per_sample(log_scale)
