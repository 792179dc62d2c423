"""The contract every invertible layer follows.

One sign convention, written down once: ``log_det`` is ``log|det dy/dx|`` of the map
actually computed, one value per sample, shape ``(batch,)``. For an :class:`Inverse`
layer it is the inverse map's own log-det, i.e. minus the forward one at the
corresponding point. Channel-wise parameters on images count once per pixel (x H*W).
"""

import math

import keras
from keras import ops

register = keras.saving.register_keras_serializable(package="keras_flows")


# Log-dets are float32 whatever the compute dtype: under mixed precision a float16
# sum of thousands of log-scales keeps no significant digit (and overflows at 65504).
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


def spatial_size(x):
    """H*W (or the product of all middle axes) of a channels-last tensor."""
    dims = ops.shape(x)[1:-1]
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)
    return ops.prod(ops.convert_to_tensor(dims))


class InvertibleLayer(keras.layers.Layer):
    """Base class of the invertible layers: `_forward` and `_inverse` side by side.

    Subclasses implement `_forward(inputs)` and `_inverse(inputs)`, each returning
    `(outputs, log_det)` with `log_det` of shape `(batch,)`. `call` runs `_forward`,
    adds `-mean(log_det)` to the layer's losses when `add_logdet_to_loss` is true (so
    `model.fit` minimises the exact negative log-likelihood), and returns only the
    outputs, so the blog's functional style `x = layer.inverse()(x)` still reads the
    same. `call(x, return_log_det=True)` returns `(outputs, log_det)`.

    Class attributes describe multi-input layers to the graph helpers
    (`keras_flows.graph`):

    - `condition_inputs`: positions of inputs that only condition the map (e.g. the
      shift `m` of `AddCouple`); the inverse takes them again, unchanged.
    - `passthrough`: `{input_position: output_position}` for inputs copied unchanged
      to an output (e.g. `x1` of a coupling), so a decoder can read them back before
      it recomputes a condition from them.
    - `volume_preserving`: the log-det is identically zero, so no loss is added.

    Args:
        add_logdet_to_loss: add `-mean(log_det)` to the model's losses on each call.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).
    """

    condition_inputs = ()
    passthrough = {}
    volume_preserving = False

    def __init__(self, add_logdet_to_loss=True, **kwargs):
        super().__init__(**kwargs)
        self.add_logdet_to_loss = add_logdet_to_loss

    def _forward(self, inputs):
        raise NotImplementedError

    def _inverse(self, inputs):
        raise NotImplementedError

    def call(self, inputs, return_log_det=False):
        outputs, log_det = self._forward(inputs)
        self._maybe_add_loss(log_det)
        return (outputs, log_det) if return_log_det else outputs

    def _maybe_add_loss(self, log_det):
        if self.add_logdet_to_loss and not self.volume_preserving:
            self.add_loss(-ops.mean(log_det))

    def forward_and_log_det(self, inputs):
        """Returns `(outputs, log_det)` of the map, `log_det` of shape `(batch,)`."""
        return self(inputs, return_log_det=True)

    def inverse(self):
        """A layer computing the exact inverse map with this layer's variables."""
        return Inverse(self)

    def forward_input_shape(self, output_shape):
        """The input shape that produces `output_shape` (used to build an inverse
        whose forward layer was not built, e.g. a reloaded decoder)."""
        return output_shape

    def get_config(self):
        config = super().get_config()
        config["add_logdet_to_loss"] = self.add_logdet_to_loss
        return config


@register
class Inverse(InvertibleLayer):
    """The inverse of an invertible layer, reading the forward layer's variables.

    It owns no variables of its own: `inverse.weights` are the forward layer's, and
    its config serializes the forward layer so a saved decoder reloads on its own.
    `Inverse(layer).inverse()` returns `layer`.

    Args:
        layer: the forward `InvertibleLayer`.
        add_logdet_to_loss: see `InvertibleLayer`; defaults to the forward layer's.
    """

    def __init__(self, layer, add_logdet_to_loss=None, **kwargs):
        if not isinstance(layer, InvertibleLayer):
            raise ValueError(
                "`Inverse` needs an `InvertibleLayer`. "
                f"Received: layer={layer!r} of type {type(layer).__name__}"
            )
        if add_logdet_to_loss is None:
            add_logdet_to_loss = layer.add_logdet_to_loss
        kwargs.setdefault("name", f"inverse_{layer.name}")
        # Compute in the forward layer's dtype (it reads that layer's variables).
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(add_logdet_to_loss=add_logdet_to_loss, **kwargs)
        self.layer = layer
        # The inverse takes the forward layer's outputs followed by its conditions
        # (conditions always come last) and returns the transformed inputs.
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

    def get_config(self):
        config = super().get_config()
        config["layer"] = keras.saving.serialize_keras_object(self.layer)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return super().from_config(config)
