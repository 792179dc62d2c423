"""What layers and models need to know about replicas: a random draw equal to
the one-device draw, and Keras's loss scaling. Devices, strategies and batches
live in `keras_flows.training.devices`."""

import keras
from keras import ops


def scale_loss_for_replicas(loss):
    """`loss / replicas` under `tf.distribute` (the identity elsewhere), as Keras
    scales every loss it sums: TensorFlow sums the replicas' gradients, so a
    custom `compute_loss` keeps the gradients of one device."""
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else ops.multiply(loss, 1.0 / replicas)


def draw_global(draw, shape, **kwargs):
    """`draw(shape, **kwargs)` as one device would draw it for the whole batch,
    returning this replica's rows.

    Under `tf.distribute` every replica's `SeedGenerator` state is one mirrored
    variable, so a local draw would give every replica the *same* noise.

    Args:
        draw: A `keras.random` function (`uniform`, `normal`, ...).
        shape: The shape of this replica's draw, batch first.
        **kwargs: `draw`'s arguments (`seed`, `dtype`, ...).
    """
    if keras.backend.backend() != "tensorflow":
        return draw(shape, **kwargs)
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return draw(shape, **kwargs)
    batch, replicas = shape[0], context.num_replicas_in_sync
    everything = draw((replicas * batch, *shape[1:]), **kwargs)
    start = context.replica_id_in_sync_group * batch
    return everything[start : start + batch]
