"""Conditioner networks: the plain Keras nets that compute a coupling's shift and
scale. The coupling layers own the maths; these only produce numbers."""

import keras
from keras import ops

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

    NICE's `m` and the two-moons s/t towers. The last layer keeps Keras' Glorot
    init: both models train from a random start.
    """

    def dense(units, activation, part):
        return keras.layers.Dense(
            units,
            activation=activation,
            kernel_regularizer=kernel_regularizer,
            name=named(name, part),
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
):
    """Glow's coupling net: [SoftClamp(input_bound) ->] Conv3x3(hidden, relu) ->
    Conv1x1(hidden, relu) -> Conv3x3(output_channels) [-> OutputScale], on
    images of any height and width.

    The last convolution starts at zero, so its coupling starts as the identity
    and a stack of dozens of steps trains from the first step instead of
    exploding (Glow, section 3.3). With `input_bound`, the net reads its input
    through `SoftClamp`, so its output stays within what it gives on the values
    it was trained on, however far out its input lands. With `output_scale`,
    an `OutputScale` starting at that factor follows, so one optimiser step
    cannot move the output far.

    Args:
        input_channels: channels of the conditioning half `x1`.
        output_channels: channels of `x2`, or twice that for a shared shift/scale net.
        hidden_channels: width of the two hidden convolutions.
        name: the net's name; its layers are named after it.
        input_bound: the `SoftClamp` bound, or `None` (no clamp).
        output_scale: the `OutputScale`'s starting factor, or `None` (none).
    """

    def conv(filters, size, part, **kwargs):
        return keras.layers.Conv2D(
            filters, size, padding="same", name=named(name, part), **kwargs
        )

    clamp = (
        []
        if input_bound is None
        else [SoftClamp(input_bound, name=named(name, "clamp"))]
    )
    return keras.Sequential(
        [
            keras.Input((None, None, input_channels)),
            *clamp,
            conv(hidden_channels, 3, "0", activation="relu"),
            conv(hidden_channels, 1, "1", activation="relu"),
            conv(output_channels, 3, "out", kernel_initializer="zeros"),
            *(
                []
                if output_scale is None
                else [OutputScale(output_scale, name=named(name, "scale"))]
            ),
        ],
        name=name,
    )


@register
class SoftClamp(keras.layers.Layer):
    """`bound * tanh(x / bound)`: close to `x` well inside `(-bound, bound)`,
    never beyond it.

    A conditioner net's first layer. A ReLU net's output grows linearly with its
    input, so without it an activation far outside the trained range (a value
    an expansion learned elsewhere has inflated) makes the net's log-scale hit
    its bound and scale the next half up, whose nets then see still larger
    inputs: a runaway through the steps. The coupling stays exactly invertible,
    since `x1` passes through it unchanged; only what the net reads is clamped.

    Args:
        bound: the largest magnitude the net reads.
    """

    def __init__(self, bound, **kwargs):
        super().__init__(**kwargs)
        if not bound > 0:
            raise ValueError(f"`SoftClamp` needs bound > 0. Received: bound={bound}")
        self.bound = float(bound)

    def call(self, x):
        return self.bound * ops.tanh(x / self.bound)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "bound": self.bound}


@register
class OutputScale(keras.layers.Layer):
    """`g * x` with one learned factor `g` per channel, starting at `initial`:
    the last layer of a coupling net, after its zero-initialised convolution
    (openai/glow's `conv2d_zeros` has such a factor, `exp(3 * logs)`, starting
    at 1).

    Adam moves each of the convolution's `9 * hidden` weights by about the
    learning rate per step, all in the same direction while the loss keeps
    asking for more scale (every hidden feature is >= 0 after a ReLU): the
    net's output then moves by the learning rate times the sum of its
    features, about 1 per step at 512 channels, in every coupling at once.
    Starting at 0.1, the factor makes that step ten times smaller until the
    net has learned to need a larger one.

    Args:
        initial: the starting factor.
    """

    def __init__(self, initial, **kwargs):
        super().__init__(**kwargs)
        if not initial > 0:
            raise ValueError(
                f"`OutputScale` needs initial > 0. Received: initial={initial}"
            )
        self.initial = float(initial)

    def build(self, input_shape):
        self.scale = self.add_weight(
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.initial),
            name="scale",
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

    A wrapper rather than `RematScope` around the net itself, because a Keras
    model's `call` takes `training`/`mask` keywords, which TensorFlow's
    recompute-gradient does not accept in graph mode.

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
        config = super().get_config()
        config["net"] = keras.saving.serialize_keras_object(self.net)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_layers(config, "net"))
