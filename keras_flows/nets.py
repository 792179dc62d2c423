"""Conditioner networks: the plain Keras nets that compute a coupling's shift and
scale. The coupling layers own the maths; these only produce numbers."""

import keras
from keras import ops

from keras_flows.checks import reject
from keras_flows.layers.normalization import Actnorm
from keras_flows.serialization import deserialize_layers, named, register


def mlp(
    input_dim,
    output_dim,
    hidden_units,
    hidden_layers,
    activation=None,
    kernel_regularizer=None,
    name=None,
):
    """`hidden_layers` x Dense(hidden_units, relu) -> Dense(output_dim, activation).

    NICE's `m` and the two-moons s/t towers; the last layer keeps Keras' Glorot
    init (both models train from a random start).
    """

    def dense(units, activation, part):
        regularizer = kernel_regularizer
        return keras.layers.Dense(
            units, activation, kernel_regularizer=regularizer, name=named(name, part)
        )

    hidden = [dense(hidden_units, "relu", f"dense_{i}") for i in range(hidden_layers)]
    out = dense(output_dim, activation, "out")
    return keras.Sequential([keras.Input((input_dim,)), *hidden, out], name=name)


def conv_net(
    input_channels,
    output_channels,
    hidden_channels=512,
    name=None,
    input_bound=None,
    output_scale=None,
    hidden_actnorm=False,
):
    """Glow's coupling net: [SoftClamp(input_bound) ->] Conv3x3(hidden,
    [Actnorm,] relu) -> Conv1x1(hidden, [Actnorm,] relu) -> Conv3x3(output_channels)
    [-> OutputScale], on images of any height and width.

    The last convolution starts at zero, so its coupling starts as the identity
    and a deep stack trains from the first step (Glow, section 3.3).

    Args:
        input_channels: channels of the conditioning half `x1`.
        output_channels: channels of `x2`, or twice that for a shared shift/scale net.
        hidden_channels: width of the two hidden convolutions.
        name: the net's name; its layers are named after it.
        input_bound: the `SoftClamp` bound, or `None` (no clamp).
        output_scale: the `OutputScale`'s starting factor, or `None` (none).
        hidden_actnorm: each hidden convolution (then without a bias) followed by
            an `Actnorm` initialised from the first batch (openai/glow's `conv2d`),
            before its ReLU; the coupling runs that initialisation.
    """

    def conv(filters, size, part, **kwargs):
        return keras.layers.Conv2D(
            filters, size, padding="same", name=named(name, part), **kwargs
        )

    def hidden(size, part):
        if not hidden_actnorm:
            return [conv(hidden_channels, size, part, activation="relu")]
        norm = dict(data_init=True, add_logdet_to_loss=False)
        return [
            conv(hidden_channels, size, part, use_bias=False),
            Actnorm(**norm, name=named(name, f"{part}_actnorm")),
            keras.layers.ReLU(name=named(name, f"{part}_relu")),
        ]

    layers = [keras.Input((None, None, input_channels))]
    if input_bound is not None:
        layers.append(SoftClamp(input_bound, name=named(name, "clamp")))
    layers += [
        *hidden(3, "0"),
        *hidden(1, "1"),
        conv(output_channels, 3, "out", kernel_initializer="zeros"),
    ]
    if output_scale is not None:
        layers.append(OutputScale(output_scale, name=named(name, "scale")))
    return keras.Sequential(layers, name=name)


@register
class SoftClamp(keras.layers.Layer):
    """`bound * tanh(x / bound)`: close to `x` well inside `(-bound, bound)`,
    never beyond it. A conditioner net's first layer: a far-out input cannot
    drive the net's output (and the next coupling's scale) ever further.

    Args:
        bound: the largest magnitude the net reads.
    """

    def __init__(self, bound, **kwargs):
        super().__init__(**kwargs)
        reject(not bound > 0, "SoftClamp", "bound > 0", f"bound={bound}")
        self.bound = float(bound)

    def call(self, x):
        return self.bound * ops.tanh(x / self.bound)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "bound": self.bound}


@register
class OutputScale(keras.layers.Layer):
    """`g * x` with one learned factor `g` per channel, starting at `initial`: the last
    layer of a coupling net, after its zero-initialised convolution (as openai/glow's
    `conv2d_zeros`). A small start makes each optimiser step move the output less.

    Args:
        initial: the starting factor.
    """

    def __init__(self, initial, **kwargs):
        super().__init__(**kwargs)
        reject(not initial > 0, "OutputScale", "initial > 0", f"initial={initial}")
        self.initial = float(initial)

    def build(self, input_shape):
        initial = keras.initializers.Constant(self.initial)
        self.scale = self.add_weight(
            shape=(input_shape[-1],), initializer=initial, name="scale"
        )

    def call(self, x):
        return x * ops.cast(self.scale, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "initial": self.initial}


@register
class Checkpointed(keras.layers.Layer):
    """Runs `net` with gradient checkpointing (Keras' `RematScope`): the backward
    pass recomputes the net's activations instead of storing them.

    A wrapper, because a Keras model's `call` takes `training`/`mask` keywords,
    which TensorFlow's recompute-gradient does not accept in graph mode.

    Args:
        net: the layer or model to checkpoint.
    """

    def __init__(self, net, **kwargs):
        with keras.RematScope(mode="full"):  # Keras reads the mode at creation
            super().__init__(**kwargs)
        self.net = net

    def build(self, input_shape):
        if not self.net.built:
            self.net.build(input_shape)

    def call(self, x):
        return self.net(x)

    def compute_output_shape(self, input_shape):
        return self.net.compute_output_shape(input_shape)

    def get_config(self):
        net = keras.saving.serialize_keras_object(self.net)
        return {**super().get_config(), "net": net}

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_layers(config, "net"))
