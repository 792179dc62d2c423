"""Data-parallel training: `tf.distribute`'s mirrored strategies on TensorFlow
(across hosts from `TF_CONFIG`), `keras.distribution.DataParallel` on JAX.
Backends are imported lazily: the command line reads this before Keras starts."""

import contextlib
import functools
import json
import os
import pathlib
import sys

JAX_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def backend_name():
    """The Keras backend this process will use, read as Keras does, without it."""
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
    """Whether this process writes files: the `"chief"` task of `TF_CONFIG`, else
    worker 0 (as `MultiWorkerMirroredStrategy`); on JAX, process 0."""
    config = tf_config()
    if config and backend_name() == "tensorflow":
        task = config.get("task", {})
        kind, index = task.get("type"), int(task.get("index", 0))
        if "chief" in config.get("cluster", {}):
            return kind == "chief"
        return kind in (None, "worker") and index == 0
    if backend_name() == "jax" and "jax" in sys.modules:  # else: one process
        import jax

        return jax.process_index() == 0
    return True


def use_virtual_cpus(count):
    """Splits the CPU into `count` virtual devices when there is no accelerator,
    to try multi-device training; must run before the backend starts."""
    if count <= 1:
        return
    backend = backend_name()
    if backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if JAX_DEVICE_COUNT_FLAG not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {JAX_DEVICE_COUNT_FLAG}={count}".strip()
    elif backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        virtual = len(tf.config.get_logical_device_configuration(cpu) or ())
        if tf.config.list_physical_devices("GPU") or virtual >= count:
            return
        # Once TensorFlow has started this fails, and choose_devices says so.
        with contextlib.suppress(RuntimeError):
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * count
            )


def available_devices():
    """The backend's accelerators if any, else its (possibly virtual) CPUs."""
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
    """The first `requested` of `available` (all for `"all"`)."""
    if requested == "all":
        return list(available)
    if requested > len(available):
        cpus = all("cpu" in str(d).lower() for d in available)
        hint = " (CPU-only: `use_virtual_cpus` must run before the backend starts)"
        raise ValueError(
            f"asked for {requested} devices, but the {backend_name()} backend has "
            f"{len(available)}: {', '.join(map(str, available))}{hint if cpus else ''}"
        )
    return list(available)[:requested]


@contextlib.contextmanager
def distribution_scope(devices=None):
    """A context in which everything built and trained is data-parallel over
    `devices` (a number, `"all"`, a list of names, or `None`), or over each
    `TF_CONFIG` worker's devices; yields the strategy (`None`: one device)."""
    backend, scope = backend_name(), None
    if backend == "tensorflow" and is_multi_worker():
        if devices not in (None, "all"):
            raise ValueError(
                "With a TF_CONFIG cluster every worker trains on all its local "
                "devices (set CUDA_VISIBLE_DEVICES to choose them). "
                f"Received: devices={devices!r}"
            )
        scope = multi_worker_strategy()
    elif devices is not None:
        listed = isinstance(devices, (list, tuple))
        names = devices if listed else choose_devices(devices, available_devices())
        if listed or len(names) > 1:
            tf = backend == "tensorflow"
            scope = mirrored_strategy(tuple(names)) if tf else data_parallel(names)
    with contextlib.nullcontext() if scope is None else scope.scope():
        yield scope


@functools.cache
def mirrored_strategy(names):
    """One `tf.distribute.MirroredStrategy` per set of devices and process: a
    second one aborts the first one's collective ops ("Shape mismatch ...")."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(names))


def data_parallel(devices):
    """`keras.distribution.DataParallel` over `devices` that, in one process,
    replicates a batch it cannot split evenly (e.g. a sample grid through
    `predict`) instead of failing with JAX's "should evenly divide" error."""
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
    """`tf.distribute.MultiWorkerMirroredStrategy` that reduces a scalar log over
    the replicas only: Keras 3's `axis=0` fails (tensorflow/tensorflow#72388)."""
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            if axis is not None:
                local = self.experimental_local_results(value)[0]
                if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                    axis = None
            return super().reduce(reduce_op, value, axis)

    return MultiWorkerMirroredStrategy(**kwargs)
