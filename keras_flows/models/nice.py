"""NICE on MNIST, as in the first post of the "细水长flow" series."""

import math

import keras

from keras_flows import layers as L
from keras_flows.checks import reject
from keras_flows.models.base import LOG_2PI, FlowModel, constructor_arguments
from keras_flows.nets import mlp
from keras_flows.serialization import register

NOISE = {
    # The blog's train-only noise x - 0.01 U[0, 1): not a dequantisation, so the
    # bits/dim of a model trained with it are only indicative.
    "blog": lambda seed: L.UniformNoise(-0.01, 0.0, seed=seed),
    # Dequantisation q(x) + U[0, 1/256): the continuous NLL bounds the discrete one.
    "dequantize": lambda seed: L.Dequantize(8, (0.0, 1.0), seed=seed),
}


@register
class NICE(FlowModel):
    """NICE: additive couplings on interleaved halves, then a learned diagonal Scale.

    The blog's encoder: `noise -> 4 x [Shuffle(reverse) -> SplitVector ->
    AddCouple(m_k) -> ConcatVector] -> Scale` (for the blog's loss, `blog_loss`).

    Args:
        input_dim: data dimension `D` (even).
        num_couplings: number of additive coupling steps.
        hidden_units: width of each coupling net `m`.
        hidden_layers: hidden layers of each `m` (plus its output layer).
        noise: `"blog"`, `"dequantize"` (see `NOISE`) or `None`.
        shuffle: `"reverse"` (the blog) or `"random"` (RealNVP's suggestion).
        seed: seed of the random shuffles and the noise; drawn and stored if `None`.

    Example:
    >>> import keras, numpy as np
    >>> model = NICE(input_dim=8, hidden_units=16, hidden_layers=1)
    >>> model.compile(keras.optimizers.Adam(1e-3))
    >>> x = np.random.rand(32, 8).astype("float32")
    >>> history = model.fit(x, batch_size=16, epochs=1, verbose=0)
    >>> model.log_prob(x[:3]).shape
    (3,)

    Reference: Dinh, Krueger & Bengio, NICE (2014), arXiv:1410.8516;
    Su, "细水长flow之NICE：流模型的基本概念与实现" (2018).
    """

    def __init__(
        self,
        input_dim=784,
        num_couplings=4,
        hidden_units=1000,
        hidden_layers=5,
        noise="blog",
        shuffle="reverse",
        seed=None,
        **kwargs,
    ):
        config = constructor_arguments(locals())
        seed = config["seed"]
        reject(input_dim % 2, "NICE", "an even `input_dim`", f"input_dim={input_dim}")
        if noise is not None and noise not in NOISE:
            raise ValueError(
                f"`NICE` noise must be one of {sorted(NOISE)} or None. "
                f"Received: noise={noise!r}"
            )
        x_in = keras.Input((input_dim,), name="x")
        x = x_in if noise is None else NOISE[noise](seed)(x_in)
        for k in range(num_couplings):
            x = L.Shuffle(shuffle, seed=seed + k)(x)
            x1, x2 = L.SplitVector()(x)
            # The blog's m: a final ReLU (it only shifts upwards) and Glorot init:
            # additive couplings preserve volume, so a random m is harmless.
            half = input_dim // 2
            m = mlp(half, half, hidden_units, hidden_layers, "relu", name=f"m{k}")
            x1, x2 = L.AddCouple()([x1, x2, m(x1)])
            x = L.ConcatVector()([x1, x2])
        z = L.Scale()(x)
        side = math.isqrt(input_dim)
        image_shape = (side, side, 1) if side * side == input_dim else None
        facts = dict(image_shape=image_shape, data_range=(0.0, 1.0), config=config)
        super().__init__(keras.Model(x_in, z, name="nice_encoder"), **facts, **kwargs)

    def blog_loss(self, x, *, batch_size=256):
        """The blog's loss `mean(0.5 |z|^2 - sum(s))`: the NLL without
        `0.5 D log(2 pi)`."""
        nll = -self.log_prob(x, batch_size=batch_size).mean()
        return float(nll - 0.5 * self.config["input_dim"] * LOG_2PI)
