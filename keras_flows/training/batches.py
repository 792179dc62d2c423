"""Batches that split evenly across the replicas training a model: what
`train` does to the data before `fit` on more than one device."""

import warnings

import keras
import numpy as np


def replicas_of(model):
    """How many replicas train `model` in sync (its strategy's or distribution's)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
        return 1 if strategy is None else strategy.num_replicas_in_sync
    if backend == "jax":
        distribution = keras.distribution.distribution()
        return 1 if distribution is None else int(distribution.device_mesh.devices.size)
    return 1


def even_batches(x, batch_size, replicas, name="x"):
    """The array `x` (or `(x, y)`) without the last `r % replicas` samples, with a
    warning, when its last batch of `r` would not split evenly across replicas:
    JAX cannot shard it, and `tf.distribute` would give a replica an empty part
    (a NaN mean loss) or average unequal parts' means."""
    if isinstance(x, tuple) and replicas > 1:
        kept = even_batches(x[0], batch_size, replicas, name)
        return kept, x[1][: len(kept)]
    if replicas <= 1 or not isinstance(x, np.ndarray) or not batch_size:
        return x
    drop = (len(x) % batch_size) % replicas
    if drop == 0 or len(x) <= drop:
        return x
    warnings.warn(
        f"Training on {replicas} devices: dropping the last {drop} of the "
        f"{len(x)} samples of `{name}` so that its last batch of "
        f"{len(x) % batch_size} splits evenly across the devices.",
        stacklevel=3,
    )
    return x[: len(x) - drop]


def even_dataset(dataset, replicas):
    """A `keras.utils.PyDataset` with every batch cut to a multiple of `replicas`
    samples, as `even_batches` does for arrays."""
    if replicas <= 1 or not isinstance(dataset, keras.utils.PyDataset):
        return dataset
    return EvenDataset(dataset, replicas)


class EvenDataset(keras.utils.PyDataset):
    """`dataset` with batches that split evenly (`even_dataset`)."""

    def __init__(self, dataset, replicas):
        super().__init__(
            dataset.workers, dataset.use_multiprocessing, dataset.max_queue_size
        )
        self.dataset, self.replicas = dataset, replicas
        # Only the last batch of a folder is partial: it is read once, here.
        batches = dataset.num_batches
        last = _batch_size(dataset[batches - 1]) if batches else 0
        self.batches = batches - (0 < last < replicas)
        if last % replicas:
            warnings.warn(
                f"Training on {replicas} devices: the last batch of "
                f"{last} samples loses {last % replicas} of them every "
                "epoch, so that it splits evenly across the devices.",
                stacklevel=4,
            )

    def __len__(self):
        return self.batches

    def __getitem__(self, index):
        batch = self.dataset[index]
        size = _batch_size(batch)
        return _cut(batch, size - size % self.replicas)

    def on_epoch_begin(self):
        self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


def _cut(batch, size):
    if isinstance(batch, (tuple, list)):
        return type(batch)(_cut(part, size) for part in batch)
    return None if batch is None else batch[:size]


def _batch_size(batch):
    return len(batch[0] if isinstance(batch, (tuple, list)) else batch)
