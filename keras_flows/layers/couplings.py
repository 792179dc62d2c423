"""Coupling layers: one part of the input conditions an easily inverted map of the
other part, so the Jacobian is triangular and its determinant is cheap."""

import keras
import numpy as np
from keras import ops

from keras_flows.checks import reject
from keras_flows.layers.base import InvertibleLayer, sum_per_sample, zeros_per_sample
from keras_flows.serialization import register

SCALES = ("tanh", "sigmoid", "exp")


def _checked_net(layer, role, net):
    bad = net is not None and not isinstance(net, keras.layers.Layer)
    needs = f"its {role} to be a Keras layer or model"
    needs += " (`from_config` deserialises a config)"
    reject(bad, layer, needs, f"{role}={net!r}")
    return net


def _check_net_output(layer, role, x1_shape, x2_shape, factor=1):
    """Raises unless `layer.<role>` maps `x1` to `x2`'s shape, `factor` x channels."""
    net, x1_shape, x2_shape = getattr(layer, role), tuple(x1_shape), tuple(x2_shape)
    if not net.built:
        net.build(x1_shape)
    out = tuple(net.compute_output_shape(x1_shape))
    target = "the shape of x2" if factor == 1 else "twice the channels of x2"
    shapes = f"x1 shape={x1_shape}, x2 shape={x2_shape}, {role} output shape={out}"
    bad = out[1:] != (*x2_shape[1:-1], factor * x2_shape[-1])
    reject(bad, layer, f"its {role} to map x1 to {target}", shapes)


def _log_scale_of(raw, scale, bound):
    """The log-scale `s` from a net's raw output, per parameterisation."""
    if scale == "sigmoid":
        # Glow's official code and tfb.Glow: scale = sigmoid(raw + 2) in (0, 1).
        return ops.log_sigmoid(raw + 2.0)
    if scale == "exp" or bound is None:
        return raw
    # Identity near 0, but |s| < bound: a deep stack stays invertible in float32.
    return bound * ops.tanh(raw / bound)


@register
class AddCouple(InvertibleLayer):
    """NICE's additive coupling with an externally computed shift `m = m(x1)`.

    Forward: `[x1, x2, m] -> [x1, x2 - m]` (the blog's sign convention).
    Inverse: `[y1, y2, m] -> [y1, y2 + m]`. log|det J| = 0.

    Example:
    >>> import numpy as np
    >>> x1, x2, m = (np.random.rand(2, 3).astype("float32") for _ in range(3))
    >>> y1, y2 = AddCouple()([x1, x2, m])  # m = net(x1), computed outside
    >>> _, x2_back = AddCouple().inverse()([y1, y2, m])
    >>> np.allclose(x2_back, x2)
    True

    Reference: Dinh et al., NICE (2014), section 3.2.
    """

    condition_inputs = (2,)
    passthrough = {0: 0}
    volume_preserving = True

    def build(self, input_shape):
        bad = len(input_shape) != 3 or tuple(input_shape[1]) != tuple(input_shape[2])
        needs = "`[x1, x2, m]` with `x2` and `m` of the same shape"
        reject(bad, self, needs, f"input_shape={input_shape}")

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

    Args:
        shift_model: net `t` from `x1` to the shape of `x2`, or (with a `scale` and
            no `log_scale_model`) a shared net for `[t, raw]`, twice `x2`'s channels.
        log_scale_model: net producing `raw` for the two-net form, or `None`.
        log_scale_bound: soft bound on `|s|` for `scale="tanh"`, or `None`.
        scale: `s` from `raw`: `"tanh"`, `bound * tanh(raw / bound)`;
            `"sigmoid"`, `log sigmoid(raw + 2)`; `"exp"`, `raw`. `None`: `"tanh"`
            with a `log_scale_model`, additive without.

    Example:
    >>> import keras, numpy as np
    >>> couple = AffineCouple(keras.layers.Dense(3), keras.layers.Dense(3))
    >>> x1, x2 = (np.random.rand(2, 3).astype("float32") for _ in range(2))
    >>> y1, y2 = couple([x1, x2])
    >>> np.allclose(couple.inverse()([y1, y2])[1], x2, atol=1e-5)
    True

    Reference: Dinh et al., RealNVP (2016), sec. 3.3; Su, "细水长flow之RealNVP与Glow".
    """

    passthrough = {0: 0}
    config_args = ("shift_model", "log_scale_model", "log_scale_bound", "scale")

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
        self.scale = "tanh" if scale is None and log_scale_model is not None else scale
        # One net computes both shift and raw log-scale (2x channels).
        self.shared = self.scale is not None and log_scale_model is None
        self.volume_preserving = self.scale is None

    def build(self, input_shape):
        reject(len(input_shape) != 2, self, "`[x1, x2]`", f"input_shape={input_shape}")
        factor = 2 if self.shared else 1
        _check_net_output(self, "shift_model", *input_shape, factor=factor)
        if self.log_scale_model is not None:
            _check_net_output(self, "log_scale_model", *input_shape)

    @property
    def _nets(self):
        nets = (self.shift_model, self.log_scale_model)
        # A `nets.Checkpointed` wrapper holds its net as `.net`; a plain layer
        # (no `.layers`) has nothing to initialise.
        nets = [getattr(net, "net", net) for net in nets if net is not None]
        return [net for net in nets if hasattr(net, "layers")]

    @property
    def needs_initialization(self):
        """Whether a layer of its nets (an Actnorm in a hidden layer) still
        waits for its data-dependent initialisation."""
        from keras_flows import graph  # graph imports the layers

        return any(graph.needs_initialization(net) for net in self._nets)

    def initialize(self, inputs):
        """Runs its nets' data-dependent initialisation on `x1` of `inputs`."""
        from keras_flows import graph

        for net in self._nets:
            graph.initialize(net, inputs[0])

    def _shift_and_log_scale(self, x1):
        """`(t, s)` in this layer's compute dtype (a net may compute in a lower
        one); `s` is `None` for additive coupling."""
        shift = ops.cast(self.shift_model(x1), self.compute_dtype)
        if self.scale is None:
            return shift, None
        if self.shared:
            channels = shift.shape[-1] // 2
            shift, raw = shift[..., :channels], shift[..., channels:]
        else:
            raw = ops.cast(self.log_scale_model(x1), self.compute_dtype)
        return shift, _log_scale_of(raw, self.scale, self.log_scale_bound)

    def _forward(self, inputs):
        x1, x2 = inputs
        shift, log_scale = self._shift_and_log_scale(x1)
        if log_scale is None:
            return [x1, x2 + shift], zeros_per_sample(x1)
        return [x1, x2 * ops.exp(log_scale) + shift], sum_per_sample(log_scale)

    def _inverse(self, inputs):
        y1, y2 = inputs
        shift, log_scale = self._shift_and_log_scale(y1)
        if log_scale is None:
            return [y1, y2 - shift], zeros_per_sample(y1)
        return [y1, (y2 - shift) * ops.exp(-log_scale)], -sum_per_sample(log_scale)


@register
class MaskedCouple(InvertibleLayer):
    """RealNVP's masked affine coupling, as in the book's two-moons model.

    With a binary `mask` `b` (1 = kept) and `s, t = nets(b * x)`:
    Forward: `y = b * x + (1 - b) * (x * exp(s) + t)`.
    Inverse: `x = b * y + (1 - b) * (y - t) * exp(-s)` with `s, t = nets(b * y)`.
    log|det J| = `sum((1 - b) * s)`.

    Args:
        mask: the binary mask, a list broadcastable against one sample.
        shift_model: net `t` from `b * x` to the shape of `x`.
        log_scale_model: net `s` from `b * x` to the shape of `x`, or `None`.
        log_scale_bound: soft bound on `|s|`, or `None`.

    Reference: Dinh et al., RealNVP (2016), section 3.4; Foster, *Generative Deep
    Learning* 2nd ed., chapter 6.
    """

    config_args = ("mask", "shift_model", "log_scale_model", "log_scale_bound")

    def __init__(
        self, mask, shift_model, log_scale_model=None, log_scale_bound=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.mask = np.asarray(mask, dtype="float32")
        bad = not np.isin(self.mask, (0.0, 1.0)).all()
        reject(bad, self, "a binary mask", f"mask={mask!r}")
        self.shift_model = _checked_net(self, "shift_model", shift_model)
        self.log_scale_model = _checked_net(self, "log_scale_model", log_scale_model)
        self.log_scale_bound = log_scale_bound
        self.volume_preserving = self.log_scale_model is None

    def build(self, input_shape):
        bad = tuple(input_shape[1:])[-self.mask.ndim :] != self.mask.shape
        shapes = f"mask shape={self.mask.shape}, input_shape={input_shape}"
        reject(bad, self, "inputs whose trailing shape matches the mask", shapes)
        for role in ("shift_model", "log_scale_model"):
            if getattr(self, role) is not None:
                _check_net_output(self, role, input_shape, input_shape)

    def _nets(self, x):
        """`(kept, free, s, t)`: the kept part `b * x`, `1 - b` and the nets."""
        mask = ops.cast(self.mask, x.dtype)  # a float32 mask would promote float16 x
        kept, free = x * mask, 1.0 - mask
        shift = self.shift_model(kept) * free
        if self.log_scale_model is None:
            return kept, free, ops.zeros_like(shift), shift
        bound = self.log_scale_bound
        log_scale = _log_scale_of(self.log_scale_model(kept), "tanh", bound)
        return kept, free, log_scale * free, shift

    def _forward(self, x):
        kept, free, s, t = self._nets(x)
        return kept + free * (x * ops.exp(s) + t), sum_per_sample(s)

    def _inverse(self, y):
        kept, free, s, t = self._nets(y)
        return kept + free * (y - t) * ops.exp(-s), -sum_per_sample(s)
