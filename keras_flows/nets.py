"""Conditioner networks: the plain Keras nets that compute a coupling's shift and
scale. The coupling layers own the maths; these only produce numbers."""

import keras

from keras_flows.layers.base import deserialize_layers, named, register


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


def conv_net(input_channels, output_channels, hidden_channels=512, name=None):
    """Glow's coupling net: Conv3x3(hidden, relu) -> Conv1x1(hidden, relu) ->
    Conv3x3(output_channels), on images of any height and width.

    The last convolution starts at zero, so its coupling starts as the identity
    and a stack of dozens of steps trains from the first step instead of
    exploding (Glow, section 3.3).

    Args:
        input_channels: channels of the conditioning half `x1`.
        output_channels: channels of `x2`, or twice that for a shared shift/scale net.
        hidden_channels: width of the two hidden convolutions.
        name: the net's name; its layers are named after it.
    """

    def conv(filters, size, part, **kwargs):
        return keras.layers.Conv2D(
            filters, size, padding="same", name=named(name, part), **kwargs
        )

    return keras.Sequential(
        [
            keras.Input((None, None, input_channels)),
            conv(hidden_channels, 3, "0", activation="relu"),
            conv(hidden_channels, 1, "1", activation="relu"),
            conv(output_channels, 3, "out", kernel_initializer="zeros"),
        ],
        name=name,
    )


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
