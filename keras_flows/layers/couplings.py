"""Coupling layers: one part of the input conditions an easily inverted map of the
other part, so the Jacobian is triangular and its determinant is cheap."""

import keras
import numpy as np
from keras import ops

from keras_flows.layers.base import (
    InvertibleLayer,
    register,
    sum_per_sample,
    zeros_per_sample,
)


def _shape_of(net, input_shape):
    if not net.built:
        net.build(input_shape)
    return tuple(net.compute_output_shape(input_shape))


def _check_net_output(layer, net, role, x1_shape, x2_shape):
    out = _shape_of(net, tuple(x1_shape))
    if out[1:] != tuple(x2_shape)[1:]:
        raise ValueError(
            f"`{type(layer).__name__}` needs its {role} to map x1 to the shape of x2. "
            f"Received: x1 shape={tuple(x1_shape)}, x2 shape={tuple(x2_shape)}, "
            f"{role} output shape={out}"
        )


def _bounded(raw, bound):
    # A soft clamp: identity near 0 (so a zero-initialised net still starts at the
    # identity map), but |log-scale| < bound, so one step can never scale by more
    # than exp(bound) and a deep stack stays invertible in float32.
    return raw if bound is None else bound * ops.tanh(raw / bound)


SCALES = ("tanh", "sigmoid", "exp")


def _log_scale_of(raw, scale, bound):
    """The log-scale `s` from a net's raw output, per parameterisation."""
    if scale == "sigmoid":
        # Glow's official code and tfb.Glow: scale = sigmoid(raw + 2), so the
        # scale lies in (0, 1) (a step can only contract) and starts at 0.88.
        return ops.log_sigmoid(raw + 2.0)
    if scale == "exp":
        return raw  # unbounded: RealNVP's formulas as the blog writes them
    return _bounded(raw, bound)


@register
class AddCouple(InvertibleLayer):
    """NICE's additive coupling with an externally computed shift `m = m(x1)`.

    Forward: `[x1, x2, m] -> [x1, x2 - m]` (the blog's sign convention).
    Inverse: `[y1, y2, m] -> [y1, y2 + m]`. log|det J| = 0.

    The shift net is applied outside the layer, as in the blog:
    `x1, x2 = AddCouple()([x1, x2, net(x1)])`; a decoder recomputes `m` from `y1`.

    Input shape:
        `[x1, x2, m]` with `x2` and `m` of the same shape.

    Output shape:
        `[x1, x2]`.

    Example:

    >>> import numpy as np
    >>> x1, x2, m = (np.random.rand(2, 3).astype("float32") for _ in range(3))
    >>> y1, y2 = AddCouple()([x1, x2, m])
    >>> _, x2_back = AddCouple().inverse()([y1, y2, m])
    >>> np.allclose(x2_back, x2)
    True

    Reference:
        Dinh et al., NICE (2014), section 3.2.
    """

    condition_inputs = (2,)
    passthrough = {0: 0}
    volume_preserving = True

    def build(self, input_shape):
        if len(input_shape) != 3 or tuple(input_shape[1]) != tuple(input_shape[2]):
            raise ValueError(
                "`AddCouple` needs `[x1, x2, m]` with `x2` and `m` of the same shape. "
                f"Received: input_shape={input_shape}"
            )

    def _forward(self, inputs):
        x1, x2, m = inputs
        return [x1, x2 - m], zeros_per_sample(x1)

    def _inverse(self, inputs):
        y1, y2, m = inputs
        return [y1, y2 + m], zeros_per_sample(y1)


@register
class AffineCouple(InvertibleLayer):
    """Affine (RealNVP) or additive (NICE/Glow) coupling around conditioner nets.

    Forward: `[x1, x2] -> [x1, x2 * exp(s(x1)) + t(x1)]`.
    Inverse: `[y1, y2] -> [y1, (y2 - t(y1)) * exp(-s(y1))]`.
    log|det J| = `sum(s(x1))` (0 for additive coupling, `s = 0`).

    Three forms, chosen by the arguments:

    - additive (NICE, Glow's default): `AffineCouple(t_net)`;
    - one shared net (Glow paper, `tfb.Glow`, half the conditioner cost):
      `AffineCouple(net, scale="sigmoid")`, `net` maps `x1` to twice the channels
      of `x2`, split into `[t, raw]` (contiguous halves);
    - two nets (RealNVP): `AffineCouple(t_net, s_net)`, each to the shape of `x2`.

    `s` comes from the raw net output `raw` by `scale`: `"tanh"` (the soft clamp
    `s = bound * tanh(raw / bound)`, `|s| < log_scale_bound`; `bound=None` when
    the net already bounds it, as the book's tanh), `"sigmoid"` (Glow's official
    code: `s = log sigmoid(raw + 2)`, a contraction starting at 0.88) or `"exp"`
    (`s = raw`, unbounded). (Glow's code computes `(x2 + t) * scale`; here the
    shift comes after the scale, as RealNVP.)

    Give the nets' last layer a zero initialiser: then `t = raw = 0` and every
    coupling starts as the identity (`"sigmoid"`: a fixed 0.88 scale), which is what
    lets a deep stack train from the first step (Glow, section 3.3). Ready-made
    conditioner nets are in `keras_flows.nets`.

    Args:
        shift_model: net `t` from `x1` to the shape of `x2`; with `scale` and no
            `log_scale_model`, the shared net producing `[t, raw]`.
        log_scale_model: net producing `raw` for the two-net form, or `None`.
        log_scale_bound: soft bound on `|s|` for `scale="tanh"`, or `None`.
        scale: `"tanh"`, `"sigmoid"`, `"exp"`, or `None`: `"tanh"` with a
            `log_scale_model`, additive without.

    Input shape:
        `[x1, x2]`.

    Output shape:
        `[x1, x2']`.

    Example:

    >>> import keras, numpy as np
    >>> couple = AffineCouple(keras.layers.Dense(3), keras.layers.Dense(3))
    >>> x1, x2 = (np.random.rand(2, 3).astype("float32") for _ in range(2))
    >>> y1, y2 = couple([x1, x2])
    >>> np.allclose(couple.inverse()([y1, y2])[1], x2, atol=1e-5)
    True

    Reference:
        Dinh et al., RealNVP (2016), section 3.3; Su, "细水长flow之RealNVP与Glow".
    """

    passthrough = {0: 0}

    def __init__(
        self,
        shift_model,
        log_scale_model=None,
        log_scale_bound=3.0,
        scale=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if scale is not None and scale not in SCALES:
            raise ValueError(
                f"`AffineCouple` scale must be one of {SCALES} or None. "
                f"Received: scale={scale!r}"
            )
        self.shift_model = _checked_net(self, "shift_model", shift_model)
        self.log_scale_model = _checked_net(self, "log_scale_model", log_scale_model)
        self.log_scale_bound = log_scale_bound
        if scale is None and self.log_scale_model is not None:
            scale = "tanh"  # the two-net form's parameterisation before `scale`
        self.scale = scale
        # One net computes both shift and raw log-scale (2x channels).
        self.shared = scale is not None and self.log_scale_model is None
        self.volume_preserving = scale is None

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"`AffineCouple` needs `[x1, x2]`. Received: input_shape={input_shape}"
            )
        x1_shape, x2_shape = input_shape
        if self.shared:
            out = _shape_of(self.shift_model, tuple(x1_shape))
            expected = (*tuple(x2_shape)[1:-1], 2 * x2_shape[-1])
            if out[1:] != expected:
                raise ValueError(
                    "`AffineCouple` with one shared net needs it to map x1 to twice "
                    f"the channels of x2 (shift and scale). Received: x1 shape="
                    f"{tuple(x1_shape)}, x2 shape={tuple(x2_shape)}, shift_model "
                    f"output shape={out}"
                )
            return
        _check_net_output(self, self.shift_model, "shift_model", x1_shape, x2_shape)
        if self.log_scale_model is not None:
            _check_net_output(
                self, self.log_scale_model, "log_scale_model", x1_shape, x2_shape
            )

    def _shift_and_log_scale(self, x1):
        """`(t, s)` from the conditioner(s), in this layer's compute dtype (a net
        may compute in a lower one); `s` is `None` for additive coupling."""

        def net(model):
            return ops.cast(model(x1), self.compute_dtype)

        if self.scale is None:
            return net(self.shift_model), None
        if self.shared:
            h = net(self.shift_model)
            channels = h.shape[-1] // 2
            shift, raw = h[..., :channels], h[..., channels:]
        else:
            shift, raw = net(self.shift_model), net(self.log_scale_model)
        return shift, _log_scale_of(raw, self.scale, self.log_scale_bound)

    def _forward(self, inputs):
        x1, x2 = inputs
        shift, log_scale = self._shift_and_log_scale(x1)
        if log_scale is None:
            return [x1, x2 + shift], zeros_per_sample(x1)
        y2 = x2 * ops.exp(log_scale) + shift
        return [x1, y2], sum_per_sample(log_scale)

    def _inverse(self, inputs):
        y1, y2 = inputs
        shift, log_scale = self._shift_and_log_scale(y1)
        if log_scale is None:
            return [y1, y2 - shift], zeros_per_sample(y1)
        x2 = (y2 - shift) * ops.exp(-log_scale)
        return [y1, x2], -sum_per_sample(log_scale)

    def get_config(self):
        config = super().get_config()
        config.update(
            shift_model=keras.saving.serialize_keras_object(self.shift_model),
            log_scale_model=keras.saving.serialize_keras_object(self.log_scale_model),
            log_scale_bound=self.log_scale_bound,
            scale=self.scale,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return super().from_config(_nets_from_config(config))


@register
class MaskedCouple(InvertibleLayer):
    """RealNVP's masked affine coupling, as in the book's two-moons model.

    With a binary `mask` `b` (1 = kept), `s, t = nets(b * x)`:

    Forward: `y = b * x + (1 - b) * (x * exp(s) + t)`.
    Inverse: `x = b * y + (1 - b) * (y - t) * exp(-s)` with `s, t = nets(b * y)`.
    log|det J| = `sum((1 - b) * s)`.

    Args:
        mask: the binary mask, a list broadcastable against one sample.
        shift_model: net `t` from `b * x` to the shape of `x`.
        log_scale_model: net `s` from `b * x` to the shape of `x`, or `None`.
        log_scale_bound: soft bound on `|s|`, or `None` (the book's `s` net ends in
            `tanh`, so it needs none).

    Input shape:
        `(batch, ...)` matching `mask`.

    Output shape:
        Same as the input.

    Example:

    >>> import keras, numpy as np
    >>> couple = MaskedCouple([1, 0], keras.layers.Dense(2), keras.layers.Dense(2))
    >>> x = np.random.rand(4, 2).astype("float32")
    >>> np.allclose(couple.inverse()(couple(x)), x, atol=1e-5)
    True

    Reference:
        Dinh et al., RealNVP (2016), section 3.4; Foster, *Generative Deep Learning*
        2nd ed., chapter 6.
    """

    def __init__(
        self, mask, shift_model, log_scale_model=None, log_scale_bound=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.mask = np.asarray(mask, dtype="float32")
        if not np.isin(self.mask, (0.0, 1.0)).all():
            raise ValueError(
                f"`MaskedCouple` needs a binary mask. Received: mask={mask!r}"
            )
        self.shift_model = _checked_net(self, "shift_model", shift_model)
        self.log_scale_model = _checked_net(self, "log_scale_model", log_scale_model)
        self.log_scale_bound = log_scale_bound
        self.volume_preserving = self.log_scale_model is None

    def build(self, input_shape):
        if tuple(input_shape[1:])[-self.mask.ndim :] != self.mask.shape:
            raise ValueError(
                "`MaskedCouple` needs inputs whose trailing shape matches the mask. "
                f"Received: mask shape={self.mask.shape}, input_shape={input_shape}"
            )
        for role in ("shift_model", "log_scale_model"):
            net = getattr(self, role)
            if net is not None:
                _check_net_output(self, net, role, input_shape, input_shape)

    def _nets(self, kept, mask):
        masked = 1.0 - mask
        shift = self.shift_model(kept) * masked
        if self.log_scale_model is None:
            return ops.zeros_like(shift), shift
        return _bounded(
            self.log_scale_model(kept), self.log_scale_bound
        ) * masked, shift

    def _forward(self, x):
        mask = ops.cast(self.mask, x.dtype)  # a float32 mask would promote float16 x
        kept = x * mask
        log_scale, shift = self._nets(kept, mask)
        y = kept + (1.0 - mask) * (x * ops.exp(log_scale) + shift)
        return y, sum_per_sample(log_scale)

    def _inverse(self, y):
        mask = ops.cast(self.mask, y.dtype)
        kept = y * mask
        log_scale, shift = self._nets(kept, mask)
        x = kept + (1.0 - mask) * (y - shift) * ops.exp(-log_scale)
        return x, -sum_per_sample(log_scale)

    def get_config(self):
        config = super().get_config()
        config.update(
            mask=self.mask.tolist(),
            shift_model=keras.saving.serialize_keras_object(self.shift_model),
            log_scale_model=keras.saving.serialize_keras_object(self.log_scale_model),
            log_scale_bound=self.log_scale_bound,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return super().from_config(_nets_from_config(config))


def _checked_net(layer, role, net):
    if net is not None and not isinstance(net, keras.layers.Layer):
        raise ValueError(
            f"`{type(layer).__name__}` needs its {role} to be a Keras layer or model "
            f"(`from_config` deserialises a config). Received: {role}={net!r}"
        )
    return net


def _nets_from_config(config):
    """A coupling's config with its serialised nets turned back into layers."""
    config = dict(config)
    for role in ("shift_model", "log_scale_model"):
        if config.get(role) is not None:
            config[role] = keras.saving.deserialize_keras_object(config[role])
    return config
