"""Conditioner networks: the plain Keras nets that compute a coupling's shift and
scale. The coupling layers own the maths; these only produce numbers."""

import keras

from keras_flows.layers.base import register


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

    NICE's `m` (final ReLU, as the blog) and the two-moons s/t towers (tanh on s,
    linear on t) are both this net. The last layer keeps Keras' Glorot init: both
    models train from a random start (see their docstrings).
    """
    layers = [keras.Input((input_dim,))]
    for i in range(hidden_layers):
        layers.append(
            keras.layers.Dense(
                hidden_units,
                activation="relu",
                kernel_regularizer=kernel_regularizer,
                name=None if name is None else f"{name}_dense_{i}",
            )
        )
    layers.append(
        keras.layers.Dense(
            output_dim,
            activation=activation,
            kernel_regularizer=kernel_regularizer,
            name=None if name is None else f"{name}_out",
        )
    )
    return keras.Sequential(layers, name=name)


def conv_net(input_channels, output_channels, hidden_channels=512, name=None):
    """Glow's coupling net: Conv3x3(hidden, relu) -> Conv1x1(hidden, relu) ->
    Conv3x3(output_channels), on images of any height and width.

    The last convolution starts at zero (kernel and bias), so the coupling it
    drives starts as the identity map: a stack of dozens of steps then begins as
    a well-conditioned map and trains from the first step instead of exploding
    (Glow, section 3.3). For a coupling with one shared net for shift and scale,
    pass twice the transformed half's channels as `output_channels`.

    Args:
        input_channels: channels of the conditioning half `x1`.
        output_channels: channels of the output (`x2`'s, or twice that).
        hidden_channels: width of the two hidden convolutions (the seed: 512).
        name: the net's name; its layers are named after it.
    """

    def named(part):
        return None if name is None else f"{name}_{part}"

    return keras.Sequential(
        [
            keras.Input((None, None, input_channels)),
            keras.layers.Conv2D(
                hidden_channels, 3, padding="same", activation="relu", name=named("0")
            ),
            keras.layers.Conv2D(
                hidden_channels, 1, padding="same", activation="relu", name=named("1")
            ),
            keras.layers.Conv2D(
                output_channels,
                3,
                padding="same",
                kernel_initializer="zeros",
                name=named("out"),
            ),
        ],
        name=name,
    )


@register
class Checkpointed(keras.layers.Layer):
    """Runs `net` with gradient checkpointing (Keras' `RematScope`): the backward
    pass recomputes the net's activations from its input instead of storing them.

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
        config = dict(config)
        config["net"] = keras.saving.deserialize_keras_object(config["net"])
        return cls(**config)
