"""What a layer or a model needs to know about replicas, and nothing more: a
random draw equal to the one-device draw, and the loss scaling Keras applies to
every loss it sums. Devices, strategies and batches live in
`keras_flows.training.devices`."""

import keras
from keras import ops


def scale_loss_for_replicas(loss):
    """`loss / replicas` under `tf.distribute` (the identity elsewhere): what
    Keras does to every loss it sums, so a custom `compute_loss` that returns a
    loss of its own keeps the gradients of one device (TensorFlow sums the
    replicas' gradients)."""
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else ops.multiply(loss, 1.0 / replicas)


def draw_global(draw, shape, **kwargs):
    """`draw(shape, **kwargs)` as one device would draw it for the whole batch,
    returning this replica's rows.

    Under `tf.distribute` every replica runs the step with the same seed (a
    `keras.random.SeedGenerator`'s state is one mirrored variable), so
    `keras.random.uniform((local_batch, ...), seed=generator)` gives every
    replica the *same* numbers: the replicas share their noise and N devices do
    not train as one does. This draws `(replicas * local_batch, ...)` numbers,
    those one device draws for the global batch, and keeps rows
    `[i * local_batch, (i + 1) * local_batch)` of replica `i` (`fit` gives
    replica `i` that part of each global batch). On JAX (one global array, one
    draw) and outside a strategy it is `draw(shape, **kwargs)`.

    Args:
        draw: a `keras.random` function (`uniform`, `normal`, ...).
        shape: the shape of this replica's draw, batch first.
        **kwargs: `draw`'s arguments (`seed`, `dtype`, ...).
    """
    if keras.backend.backend() != "tensorflow":
        return draw(shape, **kwargs)
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    replicas = 1 if context is None else context.num_replicas_in_sync
    if replicas == 1:
        return draw(shape, **kwargs)
    batch = shape[0]
    everything = draw((replicas * batch, *shape[1:]), **kwargs)
    start = context.replica_id_in_sync_group * batch
    return everything[start : start + batch]
