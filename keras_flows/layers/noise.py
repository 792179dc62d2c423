"""Training-time noise on the data side of a flow (dequantisation)."""

import keras
from keras import ops

from keras_flows.layers.base import InvertibleLayer, register, zeros_per_sample


@register
class UniformNoise(InvertibleLayer):
    """Adds `U[low, high)` noise while training; the identity otherwise.

    Dequantisation turns discrete pixel values into a continuous density: with data
    in `[0, 1]` on a 1/256 grid, `U[0, 1/256)` noise makes the continuous NLL an
    upper bound of the discrete one, so bits/dim are valid. NICE's blog uses
    `x - 0.01 * U[0, 1)` instead (`low=-0.01, high=0`).

    Forward: `x + u` when training, else `x`. Inverse: the identity.
    log|det J| = 0 (the noise is part of the data, not of the map).

    Args:
        low: lower end of the noise.
        high: upper end of the noise.
        seed: seed of the noise stream.

    Example:

    >>> import numpy as np
    >>> noise = UniformNoise(0.0, 1 / 256)
    >>> x = np.zeros((2, 3), "float32")
    >>> np.asarray(noise(x)).tolist() == x.tolist()  # inference: identity
    True
    """

    volume_preserving = True

    def __init__(self, low=0.0, high=1.0 / 256, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not low < high:
            raise ValueError(
                f"`UniformNoise` needs low < high. Received: low={low}, high={high}"
            )
        self.low, self.high, self.seed = float(low), float(high), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None, return_log_det=False):
        outputs = inputs
        if training:
            outputs = inputs + keras.random.uniform(
                ops.shape(inputs),
                minval=self.low,
                maxval=self.high,
                dtype=inputs.dtype,
                seed=self.seed_generator,
            )
        log_det = zeros_per_sample(inputs)
        return (outputs, log_det) if return_log_det else outputs

    def _forward(self, x):
        return x, zeros_per_sample(x)

    def _inverse(self, y):
        return y, zeros_per_sample(y)

    def get_config(self):
        config = super().get_config()
        config.update(low=self.low, high=self.high, seed=self.seed)
        return config
