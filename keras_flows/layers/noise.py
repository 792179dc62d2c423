"""Training-time noise on the data side of a flow (dequantisation)."""

import keras
from keras import ops

from keras_flows import replicas
from keras_flows.checks import check_n_bits, reject
from keras_flows.layers.base import InvertibleLayer, zeros_per_sample
from keras_flows.serialization import register

_SEED_STATE = "seed_state_"


class SavesRandomState:
    """Mixin that saves the state of a layer's or model's `SeedGenerator`s with its
    weights, so a run resumed from a checkpoint draws the same noise as an
    uninterrupted one (Keras saves no random-stream state)."""

    def save_own_variables(self, store):
        super().save_own_variables(store)
        for i, generator in enumerate(self._seed_generators):
            store[f"{_SEED_STATE}{i}"] = generator.state

    def load_own_variables(self, store):
        keys = list(store.keys())
        own = {k: store[k] for k in keys if not k.startswith(_SEED_STATE)}
        super().load_own_variables(own)
        for i, generator in enumerate(self._seed_generators):
            if f"{_SEED_STATE}{i}" in keys:
                generator.state.assign(store[f"{_SEED_STATE}{i}"])


@register
class UniformNoise(SavesRandomState, InvertibleLayer):
    """Adds `U[low, high)` noise while training; the identity otherwise, and
    log|det J| = 0 (the noise is part of the data, not of the map).

    Args:
        low: lower end of the noise.
        high: upper end of the noise.
        seed: seed of the noise stream (its state is saved with the weights).
    """

    volume_preserving = True
    config_args = ("low", "high", "seed")

    def __init__(self, low=0.0, high=1.0 / 256, seed=None, **kwargs):
        super().__init__(**kwargs)
        reject(not low < high, "UniformNoise", "low < high", f"low={low}, high={high}")
        self.low, self.high, self.seed = float(low), float(high), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None, return_log_det=False):
        outputs, log_det = inputs, zeros_per_sample(inputs)
        if training:  # under tf.distribute: this replica's rows of one global draw
            kw = dict(minval=self.low, maxval=self.high, seed=self.seed_generator)
            kw["dtype"] = inputs.dtype
            noise = replicas.draw_global(keras.random.uniform, ops.shape(inputs), **kw)
            outputs = inputs + noise
        return (outputs, log_det) if return_log_det else outputs

    def _forward(self, x):
        return x, zeros_per_sample(x)

    _inverse = _forward


def quantize(x, data_range, n_bits, xp=ops):
    """`q(x)`: each value snapped to the lower edge of its level, with
    `K = 2**n_bits` levels of width `w = (high - low) / K` tiling `data_range`.

    8-bit values `k` scaled any of the usual ways (`k / 127.5 - 1`, `k / 128 - 1`,
    `k / 255`, `(k + 0.5) / 256`) land in level `k`, so `q(x) + U[0, w)` fills
    each level and stays inside `data_range`; the `1e-4` keeps a value on a
    level's edge despite float error. `xp` is `keras.ops` or `numpy`.
    """
    low, high = data_range
    width = (high - low) / 2**n_bits
    level = xp.clip(xp.floor((x - low) / width + 1e-4), 0.0, 2.0**n_bits - 1)
    return low + width * level


@register
class Dequantize(UniformNoise):
    """Glow's data-side preprocessing: while training, `quantize(x) + u` with
    `u ~ U[0, w)`, `w` the width of a level (as `models.base.dequantize_data`
    does for held-out data); the identity otherwise.

    Args:
        n_bits: bits per value, 1 to 8.
        data_range: `(low, high)` of the data.
        seed: seed of the noise stream.

    Reference: Kingma & Dhariwal, Glow (2018), `preprocess` in the official code;
    Theis et al., "A note on the evaluation of generative models" (2016).
    """

    config_args = ("n_bits", "data_range", "seed")

    def __init__(self, n_bits=8, data_range=(-1.0, 1.0), seed=None, **kwargs):
        n_bits = check_n_bits(n_bits, "Dequantize")
        low, high = (float(v) for v in data_range)
        needs = "data_range=(low, high) with low < high"
        reject(not low < high, "Dequantize", needs, f"data_range={data_range}")
        super().__init__(0.0, (high - low) / 2**n_bits, seed=seed, **kwargs)
        self.n_bits, self.data_range = n_bits, (low, high)

    def snap(self, x):
        """`quantize(x)` in `x`'s dtype, computed in float32 whatever the
        compute dtype (float16 cannot place values near `high` in 256 levels)."""
        q = quantize(ops.cast(x, "float32"), self.data_range, self.n_bits)
        return ops.cast(q, x.dtype)

    def call(self, inputs, training=None, return_log_det=False):
        if training:
            inputs = self.snap(inputs)
        return super().call(inputs, training=training, return_log_det=return_log_det)
