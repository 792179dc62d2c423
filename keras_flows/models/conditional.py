"""Class-conditional priors: labels in, checked and one-hot, and the one-hot vector
embedded as a map over an image's pixels so that a prior layer (`CondActnorm`)
can read it.

A conditional model's encoder takes `[x, y]`, `y` the one-hot label `(batch, K)`;
only prior layers read `y`, so `graph.build_decoder` makes it an input of the
decoder too (`[z, y] -> x`).
"""

import keras
import numpy as np


def label_embedding(labels, height, width, channels=8, name=None):
    """A learned `(batch, height, width, channels)` map of a one-hot label
    `(batch, K)`: a `Dense` layer then a `Reshape`, so each class gets its own
    map and a prior reading it can depend on the class differently at every
    pixel (a label repeated at every pixel could only move every pixel alike).
    Plain Keras layers: the decoder recomputes them from the label it is given."""
    dense = keras.layers.Dense(
        height * width * channels, name=None if name is None else f"{name}_dense"
    )
    reshape = keras.layers.Reshape(
        (height, width, channels), name=None if name is None else f"{name}_map"
    )
    return reshape(dense(labels))


def one_hot_labels(labels, count, num_classes, name="labels"):
    """`labels` (an int for all `count` samples, or one int per sample) as a
    float32 one-hot array `(count, num_classes)`; a clear `ValueError` for
    labels out of range, of the wrong count or not whole numbers."""
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
    if not np.issubdtype(array.dtype, np.integer) and not np.all(
        array == np.round(array)
    ):
        raise ValueError(f"`{name}` must be whole numbers. Received: {array[:5]}...")
    array = array.astype("int64")
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(
            f"`{name}` must be in 0..{num_classes - 1}. Received: values from "
            f"{array.min()} to {array.max()}"
        )
    return np.eye(num_classes, dtype="float32")[array]
