"""Shared test helpers: backend-agnostic autodiff Jacobians and weight randomising."""

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()

needs_tf = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="TFP oracle runs on the TensorFlow backend only"
)


def jacobian(fn, v):
    """Autodiff Jacobian of `fn: (n,) -> (m,)` at the numpy vector `v`."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        v = tf.constant(v)
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = fn(v)
        return tape.jacobian(y, v).numpy()
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.jacfwd(fn)(v))
    raise NotImplementedError(BACKEND)


def randomize(layer, scale=0.3, seed=0):
    """Sets every trainable weight of `layer` to N(0, scale^2), so zero-initialised
    parameters (Actnorm, the last layer of coupling nets) are actually tested."""
    rng = np.random.default_rng(seed)
    for w in layer.trainable_weights:
        w.assign(scale * rng.standard_normal(w.shape).astype("float32"))


def to_numpy(x):
    if isinstance(x, (list, tuple)):
        return [to_numpy(v) for v in x]
    return keras.ops.convert_to_numpy(x)
