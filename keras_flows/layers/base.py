"""The contract every invertible layer follows.

`log_det` is `log|det dy/dx|` of the map computed, one value per sample, shape
`(batch,)`; an `Inverse` layer's is minus the forward one at the matching point.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_flows.checks import reject
from keras_flows.serialization import deserialize_layers, register

# Log-dets are float32 whatever the compute dtype: a float16 sum of thousands of
# log-scales keeps no significant digit.
LOG_DET_DTYPE = "float32"


def per_sample(value, x):
    """Broadcasts a scalar log-det `value` to one float32 entry per sample of `x`."""
    return ops.broadcast_to(ops.cast(value, LOG_DET_DTYPE), ops.shape(x)[:1])


def zeros_per_sample(x):
    """A zero float32 log-det per sample of `x`."""
    return ops.zeros(ops.shape(x)[:1], dtype=LOG_DET_DTYPE)


def sum_per_sample(x):
    """Sums every axis except the batch axis in float32: (B, ...) -> (B,)."""
    return ops.sum(ops.cast(x, LOG_DET_DTYPE), axis=tuple(range(1, len(x.shape))))


def channel_log_det(log_scales, x):
    """The log-det of per-channel `log_scales` applied at every pixel of `x`:
    `H * W * sum(log_scales)` (the product of all middle axes), per sample."""
    dims = ops.shape(x)[1:-1]
    static = all(isinstance(d, int) for d in dims)
    pixels = math.prod(dims) if static else ops.prod(ops.convert_to_tensor(dims))
    pixels = ops.cast(pixels, LOG_DET_DTYPE)
    return per_sample(ops.sum(log_scales) * pixels, x)


class InvertibleLayer(keras.layers.Layer):
    """Base class of the invertible layers: `_forward` and `_inverse` side by side,
    each returning `(outputs, log_det)`; `call` runs `_forward`.

    Class attributes: `condition_inputs`, positions of inputs that only condition
    the map (the inverse takes them again); `passthrough`, `{input_position:
    output_position}` of inputs copied unchanged; `volume_preserving`, a log-det
    of zero (no loss added); `config_args`, the arguments `get_config` returns.

    Args:
        add_logdet_to_loss: add `-mean(log_det)` to the model's losses on each call.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).
    """

    condition_inputs = ()
    passthrough = {}
    volume_preserving = False
    config_args = ()

    def __init__(self, add_logdet_to_loss=True, **kwargs):
        super().__init__(**kwargs)
        self.add_logdet_to_loss = add_logdet_to_loss

    def _forward(self, inputs):
        raise NotImplementedError

    def _inverse(self, inputs):
        raise NotImplementedError

    def call(self, inputs, return_log_det=False):
        outputs, log_det = self._forward(inputs)
        if self.add_logdet_to_loss and not self.volume_preserving:
            self.add_loss(-ops.mean(log_det))
        return (outputs, log_det) if return_log_det else outputs

    def forward_and_log_det(self, inputs):
        """Returns `(outputs, log_det)` of the map, `log_det` of shape `(batch,)`."""
        return self(inputs, return_log_det=True)

    def inverse(self):
        """A layer computing the exact inverse map with this layer's variables."""
        return Inverse(self)

    def forward_input_shape(self, output_shape):
        """The input shape that gives `output_shape`, to build an inverse whose
        forward layer is not built (e.g. in a reloaded decoder)."""
        return output_shape

    def get_config(self):
        config = super().get_config()
        config["add_logdet_to_loss"] = self.add_logdet_to_loss
        for key in self.config_args:
            value = getattr(self, key)
            if isinstance(value, keras.layers.Layer):
                value = keras.saving.serialize_keras_object(value)
            config[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return config

    @classmethod
    def from_config(cls, config):
        return super().from_config(deserialize_layers(config, *cls.config_args))


@register
class Inverse(InvertibleLayer):
    """The inverse of an invertible layer, reading the forward layer's variables;
    its config holds the forward layer, so a saved decoder reloads on its own.

    Args:
        layer: the forward `InvertibleLayer`.
        add_logdet_to_loss: see `InvertibleLayer`; defaults to the forward layer's.
    """

    config_args = ("layer",)

    def __init__(self, layer, add_logdet_to_loss=None, **kwargs):
        received = f"layer={layer!r} of type {type(layer).__name__}"
        bad = not isinstance(layer, InvertibleLayer)
        reject(bad, "Inverse", "an `InvertibleLayer`", received)
        if add_logdet_to_loss is None:
            add_logdet_to_loss = layer.add_logdet_to_loss
        kwargs.setdefault("name", f"inverse_{layer.name}")
        kwargs.setdefault("dtype", layer.dtype_policy)  # it reads layer's variables
        super().__init__(add_logdet_to_loss=add_logdet_to_loss, **kwargs)
        self.layer = layer
        # It takes the forward layer's outputs, then its conditions (always last).
        self.volume_preserving = layer.volume_preserving
        self.condition_inputs = layer.condition_inputs
        self.passthrough = {out: inp for inp, out in layer.passthrough.items()}

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(self.layer.forward_input_shape(input_shape))

    def _forward(self, inputs):
        return self.layer._inverse(inputs)

    def _inverse(self, inputs):
        return self.layer._forward(inputs)

    def inverse(self):
        return self.layer


class DataInit:
    """Mixin of an `InvertibleLayer` with a `data_init` argument: `initialize(x)`
    (run eagerly on the first batch by `fit`, through `graph.initialize`) sets
    its parameters from the float32 batch `x` by the subclass's `_initialize`,
    once: the saved flag `initialized`, made by `add_initialized_flag` in
    `build`, keeps reloaded weights from being set again."""

    def add_initialized_flag(self):
        self.initialized = self.add_weight(
            name="initialized", shape=(), initializer="zeros", trainable=False
        )

    @property
    def needs_initialization(self):
        return self.data_init and float(ops.convert_to_numpy(self.initialized)) == 0

    def initialize(self, x):
        """Sets the parameters from a batch `x` (eagerly), then marks them set."""
        if not self.built:
            self.build(x.shape)
        self._initialize(ops.cast(x, "float32"))  # a float16 batch's statistics too
        self.initialized.assign(1.0)

    def _initialize(self, x):
        raise NotImplementedError
