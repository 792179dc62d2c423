"""Rearrangements (splits, concatenations, squeeze, flatten): each only moves
entries around, so log|det J| = 0."""

import math

from keras import ops, tree

from keras_flows.checks import reject
from keras_flows.layers.base import InvertibleLayer, zeros_per_sample
from keras_flows.serialization import register


class _Rearrangement(InvertibleLayer):
    """Subclasses implement `_rearrange` and its inverse `_unrearrange`."""

    volume_preserving = True

    def _forward(self, inputs):
        return self._rearrange(inputs), zeros_per_sample(tree.flatten(inputs)[0])

    def _inverse(self, inputs):
        return self._unrearrange(inputs), zeros_per_sample(tree.flatten(inputs)[0])


@register
class SplitVector(_Rearrangement):
    """Splits a vector into its even and odd positions (NICE's interleaving).

    Forward: `x -> [x[:, 0::2], x[:, 1::2]]`. Inverse: `ConcatVector`'s map.

    Example:
    >>> import numpy as np
    >>> x1, x2 = SplitVector()(np.arange(6, dtype="float32")[None])
    >>> np.asarray(x1).tolist(), np.asarray(x2).tolist()
    ([[0.0, 2.0, 4.0]], [[1.0, 3.0, 5.0]])

    Reference: Su, "细水长flow之NICE" (2018): the interleaved partition.
    """

    def build(self, input_shape):
        bad = len(input_shape) != 2 or input_shape[-1] is None or input_shape[-1] % 2
        shape = f"input_shape={tuple(input_shape)}"
        reject(bad, "SplitVector", "vectors of even length", shape)

    def forward_input_shape(self, output_shape):
        return (output_shape[0][0], 2 * output_shape[0][-1])

    def _rearrange(self, x):
        x = ops.reshape(x, (-1, x.shape[-1] // 2, 2))  # (B, D/2, 2)
        return [x[:, :, 0], x[:, :, 1]]

    def _unrearrange(self, parts):
        x = ops.stack(parts, axis=-1)  # (B, D/2, 2)
        return ops.reshape(x, (-1, 2 * parts[0].shape[-1]))  # (B, D)


@register
class ConcatVector(_Rearrangement):
    """Interleaves two vectors, `x[:, 0::2] = x1`, `x[:, 1::2] = x2`: the inverse
    map of `SplitVector`."""

    def build(self, input_shape):
        bad = len(input_shape) != 2 or tuple(input_shape[0]) != tuple(input_shape[1])
        needs = "two vectors of the same shape"
        reject(bad, "ConcatVector", needs, f"input_shape={input_shape}")

    def forward_input_shape(self, output_shape):
        half = (output_shape[0], output_shape[-1] // 2)
        return [half, half]

    _rearrange, _unrearrange = SplitVector._unrearrange, SplitVector._rearrange


@register
class Split(_Rearrangement):
    """Splits the channels into two contiguous halves `[C // 2, C - C // 2]`;
    the inverse concatenates them."""

    def build(self, input_shape):
        bad = input_shape[-1] is None or input_shape[-1] < 2
        reject(bad, "Split", "at least 2 channels", f"input_shape={tuple(input_shape)}")

    def forward_input_shape(self, output_shape):
        return (*output_shape[0][:-1], output_shape[0][-1] + output_shape[1][-1])

    def _rearrange(self, x):
        half = x.shape[-1] // 2
        return [x[..., :half], x[..., half:]]

    def _unrearrange(self, parts):
        return ops.concatenate(parts, axis=-1)


@register
class Concat(_Rearrangement):
    """Concatenates any number of tensors along the last axis; the inverse splits
    at the recorded sizes.

    Args:
        sizes: the inputs' last-axis sizes, recorded at build time (for a decoder).

    Example:
    >>> import numpy as np
    >>> concat = Concat()
    >>> y = concat([np.ones((2, 3), "float32"), np.zeros((2, 5), "float32")])
    >>> [tuple(p.shape) for p in concat.inverse()(y)]
    [(2, 3), (2, 5)]
    """

    config_args = ("sizes",)

    def __init__(self, sizes=None, **kwargs):
        super().__init__(**kwargs)
        self.sizes = None if sizes is None else [int(s) for s in sizes]

    def build(self, input_shape):
        bad = not all(
            isinstance(s, (list, tuple)) for s in (input_shape, input_shape[0])
        )
        reject(bad, "Concat", "a list of tensors", f"input_shape={input_shape}")
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

    _rearrange = Split._unrearrange

    def _unrearrange(self, y):
        ends = [sum(self.sizes[: i + 1]) for i in range(len(self.sizes))]
        return [y[..., e - s : e] for s, e in zip(self.sizes, ends)]


def _image_shape(layer, input_shape):
    """`input_shape` as a tuple, after checking it is `(batch, H, W, C)`."""
    shape = f"input_shape={tuple(input_shape)}"
    reject(len(input_shape) != 4, layer, "images of shape (batch, H, W, C)", shape)
    return tuple(input_shape)


@register
class Squeeze(_Rearrangement):
    """Trades space for channels: `(B, H, W, C) -> (B, H/f, W/f, f*f*C)`, each
    `f x f` block one pixel with channels ordered `(row_offset, col_offset, c)`.

    Args:
        factor: block size `f`.

    Example:
    >>> import numpy as np
    >>> y = Squeeze()(np.random.rand(2, 4, 6, 3).astype("float32"))
    >>> tuple(y.shape)
    (2, 2, 3, 12)

    Reference: Dinh et al., RealNVP (2016), arXiv:1605.08803, section 3.6.
    """

    config_args = ("factor",)

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        bad = int(factor) != factor or factor < 1
        reject(bad, self, "a positive integer `factor`", f"factor={factor!r}")
        self.factor = int(factor)

    def build(self, input_shape):
        shape = _image_shape(self, input_shape)
        _, h, w, _ = shape
        bad = h is None or w is None or h % self.factor or w % self.factor
        needs = "height and width divisible by `factor`"
        reject(bad, "Squeeze", needs, f"factor={self.factor}, input_shape={shape}")

    def forward_input_shape(self, output_shape):
        f, (b, h, w, c) = self.factor, output_shape
        return (b, h * f, w * f, c // (f * f))

    def _rearrange(self, x):
        f, (_, h, w, c) = self.factor, x.shape
        x = ops.reshape(x, (-1, h // f, f, w // f, f, c))  # (B, H/f, f, W/f, f, C)
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))  # (B, H/f, W/f, f_row, f_col, C)
        return ops.reshape(x, (-1, h // f, w // f, f * f * c))  # (B, H/f, W/f, f*f*C)

    def _unrearrange(self, x):
        f, (_, h, w, c) = self.factor, x.shape
        x = ops.reshape(x, (-1, h, w, f, f, c // (f * f)))  # (B, H, W, f_row, f_col, C)
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))  # (B, H, f_row, W, f_col, C)
        return ops.reshape(x, (-1, h * f, w * f, c // (f * f)))  # (B, H*f, W*f, C)


@register
class UnSqueeze(Squeeze):
    """Trades channels for space: `(B, H, W, f*f*C) -> (B, H*f, W*f, C)`, the
    inverse map of `Squeeze` with the same `factor`."""

    def build(self, input_shape):
        shape = _image_shape(self, input_shape)
        bad = shape[-1] is None or shape[-1] % self.factor**2
        needs = "channels divisible by `factor**2`"
        reject(bad, "UnSqueeze", needs, f"factor={self.factor}, input_shape={shape}")

    def forward_input_shape(self, output_shape):
        f, (b, h, w, c) = self.factor, output_shape
        return (b, h // f, w // f, c * f * f)

    _rearrange, _unrearrange = Squeeze._unrearrange, Squeeze._rearrange


@register
class Flatten(_Rearrangement):
    """Flattens everything but the batch axis; the inverse reshapes back (bojone's
    `Reshape` layer).

    Args:
        event_shape: the shape without the batch axis, recorded as `Concat`'s `sizes`.
    """

    config_args = ("event_shape",)

    def __init__(self, event_shape=None, **kwargs):
        super().__init__(**kwargs)
        self.event_shape = None if event_shape is None else tuple(event_shape)

    def build(self, input_shape):
        bad = any(d is None for d in input_shape[1:])
        needs = "a fully known shape besides the batch axis"
        reject(bad, "Flatten", needs, f"input_shape={tuple(input_shape)}")
        self.event_shape = tuple(int(d) for d in input_shape[1:])

    def forward_input_shape(self, output_shape):
        if self.event_shape is None:
            raise ValueError("`Flatten` cannot be inverted before it is built.")
        return (output_shape[0], *self.event_shape)

    def _rearrange(self, x):
        return ops.reshape(x, (-1, math.prod(self.event_shape)))

    def _unrearrange(self, y):
        return ops.reshape(y, (-1, *self.event_shape))
