"""Training on more than one device, with Keras's own engines.

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
real devices are used. `tf.distribute` is imported lazily: this module is the
only place that touches a backend's distribution API.
"""

import contextlib
import functools
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
        strategy = mirrored_strategy(tuple(names))
        with strategy.scope():
            yield strategy
    else:
        distribution = data_parallel(names)
        with distribution.scope():
            yield distribution


@functools.cache
def mirrored_strategy(names):
    """One `tf.distribute.MirroredStrategy` per set of devices for the whole
    process: a second one over the same devices aborts the first one's
    collective ops ("Shape mismatch in the collective instance"), so a notebook
    that trains a second model on two devices would need a restart."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(names))


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
