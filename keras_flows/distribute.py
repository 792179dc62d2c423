"""Training on more than one device, with Keras's own engines (SPEC 1.6).

- TensorFlow: `tf.distribute.MirroredStrategy` over N devices of one host, and
  `tf.distribute.MultiWorkerMirroredStrategy` across hosts (read from `TF_CONFIG`).
- JAX: `keras.distribution.DataParallel` (across hosts once
  `keras.distribution.initialize()` has run `jax.distributed.initialize`).

`distribution_scope(devices)` is the one entry point: everything built and
trained inside it is distributed, so the recipes need no change:

    with distribution_scope(2):
        metrics = recipes.nice.train(batch_size=128, ...)

`batch_size` stays the *global* batch on TensorFlow (Keras splits it across the
replicas), so N devices train as one device does on the same batch.

A machine without accelerators has one CPU device; `use_virtual_cpus(n)` splits
it into `n` virtual devices before the backend starts, to try multi-device
training out (they share the same cores: correctness, not speed). On GPUs the
real devices are used. `tf.distribute` is imported lazily: this module is a
backend edge (STYLE 6).
"""

import contextlib
import json
import os
import pathlib

JAX_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def backend_name():
    """The Keras backend this process will use, without importing Keras: the
    `KERAS_BACKEND` variable, else `keras.json`'s `"backend"`, else
    `"tensorflow"` (Keras's own order)."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or pathlib.Path.home() / ".keras"
    try:
        config = json.loads((pathlib.Path(home) / "keras.json").read_text())
    except (OSError, ValueError):
        return "tensorflow"
    return config.get("backend", "tensorflow")


def parse_devices(text):
    """`"all"` or a positive number of devices (a `--devices` value)."""
    if str(text).lower() == "all":
        return "all"
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"not a number of devices or 'all': {text!r}") from None
    if count < 1:
        raise ValueError(f"must be >= 1 or 'all', got {text}")
    return count


def tf_config():
    """The parsed `TF_CONFIG` (`{}` when unset)."""
    text = os.environ.get("TF_CONFIG")
    return json.loads(text) if text else {}


def is_multi_worker():
    """Whether `TF_CONFIG` describes a cluster of more than one task (TensorFlow)."""
    cluster = tf_config().get("cluster", {})
    return sum(len(tasks) for tasks in cluster.values()) > 1


def is_chief():
    """Whether this process writes files (run folders, checkpoints, pictures).

    With `TF_CONFIG`: the `"chief"` task, or worker 0 when the cluster has no
    chief (`MultiWorkerMirroredStrategy`'s rule). On JAX: process 0. Else
    `True`. The other workers run the same code (their collectives must run)
    but write to a temporary folder, as Keras recommends for
    `ModelCheckpoint`/`BackupAndRestore` in multi-worker training.
    """
    config = tf_config()
    if config and backend_name() == "tensorflow":
        task = config.get("task", {})
        kind, index = task.get("type"), int(task.get("index", 0))
        if "chief" in config.get("cluster", {}):
            return kind == "chief"
        return kind in (None, "worker") and index == 0
    if backend_name() == "jax":
        import sys

        if "jax" in sys.modules:  # not worth starting JAX for: one process
            import jax

            return jax.process_index() == 0
    return True


# ------------------------------------------------------------------ devices


def use_virtual_cpus(count):
    """Splits the CPU into `count` virtual devices when the machine has no
    accelerator, so `count`-device training can be tried on a laptop or CI.

    Must run before the backend starts: JAX reads `XLA_FLAGS` when it first
    lists devices (call this before importing Keras); TensorFlow accepts
    logical devices until it first runs an op. A flag already in `XLA_FLAGS`,
    or a TensorFlow already configured, is left alone. On a GPU machine nothing
    changes (JAX's flag only concerns its CPU platform).
    """
    if count <= 1:
        return
    backend = backend_name()
    if backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if JAX_DEVICE_COUNT_FLAG not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {JAX_DEVICE_COUNT_FLAG}={count}".strip()
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return
        cpu = tf.config.list_physical_devices("CPU")[0]
        if len(tf.config.get_logical_device_configuration(cpu) or ()) >= count:
            return
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * count
            )
        except RuntimeError:  # TensorFlow already started: resolve_devices says so
            pass


def available_devices():
    """The devices of the backend that training can use: the accelerators if
    any, else the (possibly virtual) CPU devices. TensorFlow device names, or
    JAX device strings as `keras.distribution.list_devices()` gives them."""
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
    if backend == "jax":
        import keras

        return list(keras.distribution.list_devices())
    raise ValueError(
        f"Training on more than one device needs the tensorflow or jax backend. "
        f"Received: backend={backend!r}"
    )


def choose_devices(requested, available):
    """The first `requested` of `available` (all for `"all"`).

    Raises:
        ValueError: more devices asked for than there are.
    """
    if requested == "all":
        return list(available)
    if requested > len(available):
        on_cpu = all("cpu" in str(d).lower() for d in available)
        hint = (
            " (on a CPU-only machine, `use_virtual_cpus` must run before the "
            "backend starts)"
            if on_cpu
            else ""
        )
        raise ValueError(
            f"asked for {requested} devices, but the {backend_name()} backend has "
            f"{len(available)}: {', '.join(map(str, available))}{hint}"
        )
    return list(available)[:requested]


def resolve_devices(requested):
    """`choose_devices(requested, available_devices())`."""
    return choose_devices(requested, available_devices())


# -------------------------------------------------------------------- scope


@contextlib.contextmanager
def distribution_scope(devices=None):
    """A context in which everything built and trained is data-parallel.

    - `devices=None` (or one device) and no `TF_CONFIG` cluster: nothing
      changes.
    - TensorFlow, `TF_CONFIG` naming more than one task:
      `tf.distribute.MultiWorkerMirroredStrategy` (each worker uses its local
      GPUs, or its CPU); `devices` must be `None` or `"all"`.
    - TensorFlow: `tf.distribute.MirroredStrategy` over the devices.
    - JAX: `keras.distribution.DataParallel` over the devices, made the global
      distribution for the duration (restored afterwards). After
      `keras.distribution.initialize()` the devices are those of all processes.

    Yields the strategy or distribution (or `None`).

    Args:
        devices: a number of devices, `"all"`, a list of device names, or
            `None`.
    """
    backend = backend_name()
    if backend == "tensorflow" and is_multi_worker():
        if devices not in (None, "all"):
            raise ValueError(
                "With a TF_CONFIG cluster every worker trains on all its local "
                "devices (set CUDA_VISIBLE_DEVICES to choose them). "
                f"Received: devices={devices!r}"
            )
        strategy = multi_worker_strategy()
        with strategy.scope():
            yield strategy
        return
    if devices is None:
        yield None
        return
    names = devices if isinstance(devices, (list, tuple)) else resolve_devices(devices)
    if len(names) == 1 and not isinstance(devices, (list, tuple)):
        yield None  # one device: plain single-device training
        return
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(names)
        with strategy.scope():
            yield strategy
    else:
        distribution = data_parallel(names)
        with distribution.scope():
            yield distribution


def data_parallel(devices):
    """`keras.distribution.DataParallel` over `devices` that also takes a batch
    it cannot split evenly (the last batch of an epoch, a 15x15 sample grid
    through `predict`) by giving every device the whole batch: the same result,
    computed on each device, instead of JAX's "dimension size ... should evenly
    divide" error. In a single process only; across processes Keras's own
    layout applies."""
    import jax
    import keras

    class DataParallel(keras.distribution.DataParallel):
        def get_data_layout(self, data_shape):
            count = self.device_mesh.devices.size
            batch = data_shape[0] if len(data_shape) else None
            if batch is not None and batch % count and jax.process_count() == 1:
                axes = [None] * len(data_shape)  # replicated
                return keras.distribution.TensorLayout(axes, self.device_mesh)
            return super().get_data_layout(data_shape)

    return DataParallel(devices=devices)


def even_dataset(dataset, replicas):
    """A `keras.utils.PyDataset` whose every batch splits evenly across
    `replicas`: `dataset` with each batch cut to a multiple of `replicas`
    samples (only the last batch of a folder is ever cut), and without a last
    batch of fewer than `replicas` samples. The identity for one replica and
    for anything but a `PyDataset`; see `even_batches` for why."""
    import keras

    if replicas <= 1 or not isinstance(dataset, keras.utils.PyDataset):
        return dataset
    return __getattr__("EvenDataset")(dataset, replicas)


def _cut(batch, size):
    if isinstance(batch, (tuple, list)):
        return type(batch)(_cut(part, size) for part in batch)
    return None if batch is None else batch[:size]


def _batch_size(batch):
    return len(batch[0] if isinstance(batch, (tuple, list)) else batch)


_lazy = {}


def __getattr__(name):
    """`EvenDataset` is a `keras.utils.PyDataset`, made on first use so that
    importing this module does not import Keras (`keras-flows --help`); as a
    module attribute it pickles (`use_multiprocessing=True`)."""
    if name != "EvenDataset":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _lazy:
        _lazy[name] = _even_dataset_class()
    return _lazy[name]


def _even_dataset_class():
    import keras

    class EvenDataset(keras.utils.PyDataset):
        """`dataset` with batches that split evenly (`even_dataset`)."""

        def __init__(self, dataset, replicas):
            super().__init__(
                workers=dataset.workers,
                use_multiprocessing=dataset.use_multiprocessing,
                max_queue_size=dataset.max_queue_size,
            )
            self.dataset, self.replicas = dataset, replicas
            # The last batch is read once: a folder's last batch is partial.
            batches = dataset.num_batches
            last = _batch_size(dataset[batches - 1]) if batches else 0
            self.batches = batches - (0 < last < replicas)
            if last % replicas:
                import warnings

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

    EvenDataset.__module__, EvenDataset.__qualname__ = __name__, "EvenDataset"
    return EvenDataset


def replicas_of(model):
    """How many replicas train `model` in sync: those of the `tf.distribute`
    strategy it was built under (TensorFlow), of the current
    `keras.distribution` (JAX), else 1."""
    backend = backend_name()
    if backend == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
        return 1 if strategy is None else strategy.num_replicas_in_sync
    if backend == "jax":
        import keras

        distribution = keras.distribution.distribution()
        return 1 if distribution is None else int(distribution.device_mesh.devices.size)
    return 1


def even_batches(x, batch_size, replicas, name="x"):
    """`x` without the last `r % replicas` samples when its last batch of `r`
    samples would not split evenly across the replicas.

    An uneven split breaks training on both backends: JAX cannot shard 33
    samples over 2 devices (Keras lays out every batch like the first), and
    `tf.distribute` hands a replica an empty part of a last batch of 1, whose
    mean loss is NaN (and with 17 + 16 samples the mean of the two replicas'
    means is not the batch mean). Drops at most `replicas - 1` samples, with a
    warning; the identity for one replica and for data that are not a numpy
    array.
    """
    import numpy as np

    if replicas <= 1 or not isinstance(x, np.ndarray) or not batch_size:
        return x
    drop = (len(x) % batch_size) % replicas
    if drop == 0 or len(x) <= drop:
        return x
    import warnings

    warnings.warn(
        f"Training on {replicas} devices: dropping the last {drop} of the "
        f"{len(x)} samples of `{name}` so that its last batch of "
        f"{len(x) % batch_size} splits evenly across the devices.",
        stacklevel=3,
    )
    return x[: len(x) - drop]


def multi_worker_strategy(**kwargs):
    """`tf.distribute.MultiWorkerMirroredStrategy(**kwargs)` (its cluster from
    `TF_CONFIG`) that Keras 3's `fit` can use.

    Keras 3.15 reduces every value a training step returns with
    `strategy.reduce("MEAN", value, axis=0)` under this strategy, and the logs
    are scalars: "Invalid reduction dimension 0 for input with 0 dimensions"
    (tensorflow/tensorflow#72388). This strategy reduces a scalar over the
    replicas only (`axis=None`), which is what the mean of the replicas' logs
    means; everything else is `MultiWorkerMirroredStrategy`'s own.
    """
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            if axis is not None:
                local = self.experimental_local_results(value)[0]
                if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                    axis = None
            return super().reduce(reduce_op, value, axis)

    return MultiWorkerMirroredStrategy(**kwargs)


def scale_loss_for_replicas(loss):
    """`loss / replicas` under `tf.distribute` (the identity elsewhere): what
    Keras does to every loss it sums, so a custom `compute_loss` that returns a
    loss of its own keeps the gradients of one device (TensorFlow sums the
    replicas' gradients)."""
    if backend_name() != "tensorflow":
        return loss
    import tensorflow as tf
    from keras import ops

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else ops.multiply(loss, 1.0 / replicas)


# -------------------------------------------------------------------- noise


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
    if backend_name() != "tensorflow":
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
