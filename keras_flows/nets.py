"""Conditioner networks: the plain Keras nets that compute a coupling's shift and
scale. The coupling layers own the maths; these only produce numbers."""

import keras


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
