"""Class-conditional priors: labels checked and one-hot, and embedded as a map over
an image's pixels that a prior layer (`CondActnorm`) reads. A conditional model's
encoder takes `[x, y]`, `y` one-hot `(batch, K)`; only prior layers read `y`, so
`graph.build_decoder` makes it a decoder input too (`[z, y] -> x`).
"""

import keras
import numpy as np

from keras_flows.serialization import named


def label_embedding(labels, height, width, channels=8, name=None):
    """A learned `(batch, height, width, channels)` map of a one-hot label
    `(batch, K)` (`Dense`, then `Reshape`), so a prior can depend on the class
    differently at every pixel."""
    dense = keras.layers.Dense(height * width * channels, name=named(name, "dense"))
    reshape = keras.layers.Reshape((height, width, channels), name=named(name, "map"))
    return reshape(dense(labels))


def one_hot_labels(labels, count, num_classes, name="labels"):
    """`labels` (an int for all `count` samples, or one per sample) as a float32
    one-hot array `(count, num_classes)`, checked."""
    if labels is None:
        raise ValueError(
            f"This model is class-conditional ({num_classes} classes): pass "
            f"{name}, an int for every sample or one int per sample."
        )
    array = np.asarray(labels)
    if array.ndim == 0:
        array = np.full(count, array)
    if array.ndim != 1 or len(array) != count:
        raise ValueError(
            f"`{name}` must be an int or one int per sample ({count}). "
            f"Received: {name} of shape {np.shape(labels)}"
        )
    if np.any(array != np.round(array)):
        raise ValueError(f"`{name}` must be whole numbers. Received: {array[:5]}...")
    array = array.astype("int64")
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(
            f"`{name}` must be in 0..{num_classes - 1}. Received: values from "
            f"{array.min()} to {array.max()}"
        )
    return np.eye(num_classes, dtype="float32")[array]
