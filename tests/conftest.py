"""Shared test helpers (autodiff Jacobians, weight randomising) and the two tiers.

The default run is the fast tier: every layer's and every model's properties at
tiny sizes. `--slow` adds the full tier: tests marked `slow` (notebooks, CLI
trainings, multi-device subprocesses, recipes, mixed precision, long stacks) and
the docstring examples.
"""

import os

# Tests check maths, not speed: XLA's lowest CPU optimisation level compiles the
# tiny test models in about half the time on JAX, and without the CPU fusion
# emitters in about 0.6 of that again (test_models.py: 57 -> 36 s of CPU). Set
# before JAX starts, so the subprocesses and notebook kernels inherit it.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
    "--xla_cpu_use_fusion_emitters=false",
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()

needs_tf = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="TFP oracle runs on the TensorFlow backend only"
)


def in_session(backend):
    """Marks a test that runs in `backend`'s test session only: a check of one
    backend's own machinery (`MultiWorkerMirroredStrategy`, JAX processes), or
    an end-to-end run of backend-independent code (the command line, run
    folders, notebooks) whose models are checked on both backends."""
    return pytest.mark.skipif(
        BACKEND != backend, reason=f"runs in the {backend} session"
    )


def pytest_addoption(parser):
    parser.addoption(
        "--slow",
        action="store_true",
        help="run the full tier too: notebooks, CLI trainings, multi-device "
        "subprocesses, recipes (tests marked `slow`)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: full tier only, run with --slow")
    config.addinivalue_line(
        "markers", "fast_cases(*ids): only these model cases in the fast tier"
    )
    if os.environ.get("KERAS_FLOWS_PLANT"):  # a planted bug: see tests/plants.py
        import plants

        plants.apply(os.environ["KERAS_FLOWS_PLANT"])


def pytest_collection_modifyitems(config, items):
    for item in items:
        if isinstance(item, pytest.DoctestItem):  # docstring examples train models
            item.add_marker(pytest.mark.slow)
        fast_cases = item.get_closest_marker("fast_cases")
        if fast_cases and item.callspec.params["case"].id not in fast_cases.args:
            item.add_marker(pytest.mark.slow)
    if config.getoption("--slow"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


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

        return np.asarray(jax.jit(jax.jacfwd(fn))(v))
    raise NotImplementedError(BACKEND)


def batch_jacobian(fn, x):
    """Per-sample autodiff Jacobians of `fn: (batch, n) -> (batch, m)` at the numpy
    matrix `x`, as a (batch, m, n) array: one trace for the whole batch."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.batch_jacobian(y, x).numpy()
    if BACKEND == "jax":
        import jax

        def one(v):
            return fn(v[None])[0]

        return np.asarray(jax.jit(jax.vmap(jax.jacfwd(one)))(x))
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
