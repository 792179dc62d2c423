"""Volume-preserving rearrangements: splits, concatenations, squeeze, flatten.

Each layer here is a bijection that only moves entries around, so log|det J| = 0.
"""

import math

from keras import ops

from keras_flows.layers.base import InvertibleLayer, register, zeros_per_sample


class _Rearrangement(InvertibleLayer):
    volume_preserving = True

    def _forward(self, inputs):
        outputs = self._rearrange(inputs)
        return outputs, zeros_per_sample(_first(inputs))

    def _inverse(self, inputs):
        outputs = self._unrearrange(inputs)
        return outputs, zeros_per_sample(_first(inputs))


def _first(tensors):
    return tensors[0] if isinstance(tensors, (list, tuple)) else tensors


def _interleave_split(x):
    dim = x.shape[-1]
    x = ops.reshape(x, (-1, dim // 2, 2))  # (B, D/2, 2)
    return [x[:, :, 0], x[:, :, 1]]


def _interleave_concat(parts):
    x = ops.stack(parts, axis=-1)  # (B, D/2, 2)
    return ops.reshape(x, (-1, 2 * parts[0].shape[-1]))  # (B, D)


@register
class SplitVector(_Rearrangement):
    """Splits a vector into its even and odd positions (NICE's interleaving).

    Forward: `x -> [x[:, 0::2], x[:, 1::2]]`. Inverse: interleave them back.
    log|det J| = 0. The inverse of `SplitVector` computes `ConcatVector`.

    Input shape:
        `(batch, D)` with `D` even.

    Output shape:
        Two tensors of shape `(batch, D // 2)`.

    Example:

    >>> import numpy as np
    >>> x1, x2 = SplitVector()(np.arange(6, dtype="float32")[None])
    >>> np.asarray(x1).tolist(), np.asarray(x2).tolist()
    ([[0.0, 2.0, 4.0]], [[1.0, 3.0, 5.0]])

    Reference:
        Su, "细水长flow之NICE" (2018): the interleaved partition.
    """

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None or input_shape[-1] % 2:
            raise ValueError(
                "`SplitVector` needs vectors of even length. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def forward_input_shape(self, output_shape):
        return (output_shape[0][0], 2 * output_shape[0][-1])

    def _rearrange(self, x):
        return _interleave_split(x)

    def _unrearrange(self, parts):
        return _interleave_concat(parts)


@register
class ConcatVector(_Rearrangement):
    """Interleaves two vectors: the inverse map of `SplitVector`.

    Forward: `[x1, x2] -> x` with `x[:, 0::2] = x1`, `x[:, 1::2] = x2`.
    Inverse: `SplitVector`'s map. log|det J| = 0.

    Input shape:
        Two tensors of shape `(batch, D // 2)`.

    Output shape:
        `(batch, D)`.

    Example:

    >>> import numpy as np
    >>> x = np.random.rand(2, 8).astype("float32")
    >>> np.allclose(ConcatVector()(SplitVector()(x)), x)
    True
    """

    def build(self, input_shape):
        if len(input_shape) != 2 or tuple(input_shape[0]) != tuple(input_shape[1]):
            raise ValueError(
                "`ConcatVector` needs two vectors of the same shape. "
                f"Received: input_shape={input_shape}"
            )

    def forward_input_shape(self, output_shape):
        half = (output_shape[0], output_shape[-1] // 2)
        return [half, half]

    def _rearrange(self, parts):
        return _interleave_concat(parts)

    def _unrearrange(self, x):
        return _interleave_split(x)


@register
class Split(_Rearrangement):
    """Splits the channels into two contiguous halves `[C // 2, C - C // 2]`.

    Forward: `x -> [x[..., :C//2], x[..., C//2:]]`. Inverse: concatenate.
    log|det J| = 0.

    Input shape:
        `(batch, ..., C)`.

    Output shape:
        `(batch, ..., C // 2)` and `(batch, ..., C - C // 2)`.

    Example:

    >>> import numpy as np
    >>> x = np.random.rand(2, 4, 4, 6).astype("float32")
    >>> x1, x2 = Split()(x)
    >>> tuple(x1.shape), tuple(x2.shape)
    ((2, 4, 4, 3), (2, 4, 4, 3))
    """

    def build(self, input_shape):
        if input_shape[-1] is None or input_shape[-1] < 2:
            raise ValueError(
                "`Split` needs at least 2 channels. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def forward_input_shape(self, output_shape):
        return (*output_shape[0][:-1], output_shape[0][-1] + output_shape[1][-1])

    def _rearrange(self, x):
        half = x.shape[-1] // 2
        return [x[..., :half], x[..., half:]]

    def _unrearrange(self, parts):
        return ops.concatenate(parts, axis=-1)


@register
class Concat(_Rearrangement):
    """Concatenates any number of tensors along the last axis.

    Forward: `[x_1, ..., x_n] -> concat(x_i)`. Inverse: split at the recorded sizes.
    log|det J| = 0. Glow uses it for the channel halves and to join the multi-scale
    outputs into one flat `z`.

    Args:
        sizes: last-axis sizes of the inputs; recorded at build time and stored in
            the config, so a reloaded decoder can split again.

    Input shape:
        A list of tensors `(batch, ..., C_i)` with equal leading axes.

    Output shape:
        `(batch, ..., sum(C_i))`.

    Example:

    >>> import numpy as np
    >>> a, b = np.ones((2, 3), "float32"), np.zeros((2, 5), "float32")
    >>> concat = Concat()
    >>> y = concat([a, b])
    >>> [tuple(p.shape) for p in concat.inverse()(y)]
    [(2, 3), (2, 5)]
    """

    def __init__(self, sizes=None, **kwargs):
        super().__init__(**kwargs)
        self.sizes = None if sizes is None else [int(s) for s in sizes]

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not isinstance(
            input_shape[0], (list, tuple)
        ):
            raise ValueError(
                f"`Concat` needs a list of tensors. Received: input_shape={input_shape}"
            )
        if len({tuple(s)[:-1] for s in input_shape}) != 1:
            raise ValueError(
                "`Concat` inputs must agree on all but the last axis. "
                f"Received: input_shape={input_shape}"
            )
        self.sizes = [int(s[-1]) for s in input_shape]

    def forward_input_shape(self, output_shape):
        if self.sizes is None:
            raise ValueError("`Concat` cannot be inverted before it is built.")
        return [(*output_shape[:-1], s) for s in self.sizes]

    def _rearrange(self, parts):
        return ops.concatenate(parts, axis=-1)

    def _unrearrange(self, y):
        ends = [sum(self.sizes[: i + 1]) for i in range(len(self.sizes))]
        return [y[..., e - s : e] for s, e in zip(self.sizes, ends)]

    def get_config(self):
        config = super().get_config()
        config["sizes"] = self.sizes
        return config


def _check_squeezable(layer, shape, factor, squeeze=True):
    """Raises a `ValueError` unless `layer` can squeeze (or, with `squeeze=False`,
    unsqueeze) images of `shape` by `factor`."""
    name, shape = type(layer).__name__, tuple(shape)
    if len(shape) != 4:
        raise ValueError(
            f"`{name}` needs images of shape (batch, H, W, C). "
            f"Received: input_shape={shape}"
        )
    _, h, w, c = shape
    if squeeze and (h is None or w is None or h % factor or w % factor):
        raise ValueError(
            f"`{name}` needs height and width divisible by `factor`. "
            f"Received: factor={factor}, input_shape={shape}"
        )
    if not squeeze and (c is None or c % factor**2):
        raise ValueError(
            f"`{name}` needs channels divisible by `factor**2`. "
            f"Received: factor={factor}, input_shape={shape}"
        )


def _squeeze(x, f):
    _, h, w, c = x.shape
    x = ops.reshape(x, (-1, h // f, f, w // f, f, c))  # (B, H/f, f, W/f, f, C)
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))  # (B, H/f, W/f, f_row, f_col, C)
    return ops.reshape(x, (-1, h // f, w // f, f * f * c))  # (B, H/f, W/f, f*f*C)


def _unsqueeze(x, f):
    _, h, w, c = x.shape
    x = ops.reshape(x, (-1, h, w, f, f, c // (f * f)))  # (B, H, W, f_row, f_col, C)
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))  # (B, H, f_row, W, f_col, C)
    return ops.reshape(x, (-1, h * f, w * f, c // (f * f)))  # (B, H*f, W*f, C)


@register
class Squeeze(_Rearrangement):
    """Trades space for channels: `(B, H, W, C) -> (B, H/f, W/f, f*f*C)`.

    Each `f x f` block becomes one pixel with channels ordered
    `(row_offset, col_offset, c)`. Inverse: `UnSqueeze`'s map. log|det J| = 0.

    Args:
        factor: block size `f`.

    Input shape:
        `(batch, H, W, C)` with `H` and `W` divisible by `factor`.

    Output shape:
        `(batch, H / factor, W / factor, factor**2 * C)`.

    Example:

    >>> import numpy as np
    >>> x = np.random.rand(2, 4, 6, 3).astype("float32")
    >>> squeeze = Squeeze()
    >>> y = squeeze(x)
    >>> tuple(y.shape)
    (2, 2, 3, 12)
    >>> np.allclose(squeeze.inverse()(y), x)
    True

    Reference:
        Dinh et al., RealNVP (2016), arXiv:1605.08803, section 3.6.
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        if int(factor) != factor or factor < 1:
            raise ValueError(
                f"`{type(self).__name__}` needs a positive integer `factor`. "
                f"Received: factor={factor!r}"
            )
        self.factor = int(factor)

    def build(self, input_shape):
        _check_squeezable(self, input_shape, self.factor)

    def forward_input_shape(self, output_shape):
        b, h, w, c = output_shape
        f = self.factor
        return (b, h * f, w * f, c // (f * f))

    def _rearrange(self, x):
        return _squeeze(x, self.factor)

    def _unrearrange(self, y):
        return _unsqueeze(y, self.factor)

    def get_config(self):
        config = super().get_config()
        config["factor"] = self.factor
        return config


@register
class UnSqueeze(Squeeze):
    """Trades channels for space: `(B, H, W, f*f*C) -> (B, H*f, W*f, C)`.

    The inverse map of `Squeeze` with the same `factor`. log|det J| = 0.

    Args:
        factor: block size `f`.

    Input shape:
        `(batch, H, W, C)` with `C` divisible by `factor**2`.

    Output shape:
        `(batch, H * factor, W * factor, C / factor**2)`.
    """

    def build(self, input_shape):
        _check_squeezable(self, input_shape, self.factor, squeeze=False)

    def forward_input_shape(self, output_shape):
        b, h, w, c = output_shape
        f = self.factor
        return (b, h // f, w // f, c * f * f)

    _rearrange, _unrearrange = Squeeze._unrearrange, Squeeze._rearrange


@register
class Flatten(_Rearrangement):
    """Flattens everything but the batch axis, remembering the shape to undo it.

    Forward: `(B, d_1, ..., d_k) -> (B, d_1 * ... * d_k)`. Inverse: reshape back.
    log|det J| = 0. (bojone's `Reshape` layer.)

    Args:
        event_shape: the unflattened shape (without batch); recorded at build time
            and stored in the config, so a reloaded decoder can reshape back.

    Example:

    >>> import numpy as np
    >>> x = np.random.rand(2, 4, 4, 3).astype("float32")
    >>> flatten = Flatten()
    >>> tuple(flatten(x).shape)
    (2, 48)
    >>> tuple(flatten.inverse()(flatten(x)).shape)
    (2, 4, 4, 3)
    """

    def __init__(self, event_shape=None, **kwargs):
        super().__init__(**kwargs)
        self.event_shape = None if event_shape is None else tuple(event_shape)

    def build(self, input_shape):
        if any(d is None for d in input_shape[1:]):
            raise ValueError(
                "`Flatten` needs a fully known shape besides the batch axis. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.event_shape = tuple(int(d) for d in input_shape[1:])

    def forward_input_shape(self, output_shape):
        if self.event_shape is None:
            raise ValueError("`Flatten` cannot be inverted before it is built.")
        return (output_shape[0], *self.event_shape)

    def _rearrange(self, x):
        return ops.reshape(x, (-1, math.prod(self.event_shape)))

    def _unrearrange(self, y):
        return ops.reshape(y, (-1, *self.event_shape))

    def get_config(self):
        config = super().get_config()
        config["event_shape"] = self.event_shape
        return config
