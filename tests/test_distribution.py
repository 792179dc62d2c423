"""Training on two devices equals training on one with the same global batch.

Each check runs in a subprocess, because the virtual devices must be configured
before TensorFlow or JAX starts.
"""

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, os, sys
backend = sys.argv[1]
if backend == "jax":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ["KERAS_BACKEND"] = backend
import keras
import numpy as np
from keras_flows.models import NICE, RealNVP

if backend == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )


def scope(devices):
    if backend == "tensorflow":
        names = [f"/cpu:{i}" for i in range(devices)]
        return tf.distribute.MirroredStrategy(names).scope()
    import contextlib

    cpus = keras.distribution.list_devices("cpu")[:devices]
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=cpus))
    return contextlib.nullcontext()


MODELS = {
    "nice": (lambda: NICE(8, hidden_units=16, hidden_layers=1, noise=None), 8),
    "realnvp": (lambda: RealNVP(coupling_layers=2, coupling_dim=8), 2),
}


def step(name, devices):
    make, dim = MODELS[name]
    keras.utils.set_random_seed(0)
    with scope(devices):
        model = make()
        model.compile(keras.optimizers.SGD(0.1))
    x = np.random.default_rng(0).uniform(size=(32, dim)).astype("float32")
    history = model.fit(x, batch_size=32, epochs=1, shuffle=False, verbose=0)
    return history.history["loss"][0], model.get_weights()


results = {}
for name in sys.argv[2].split(","):
    (loss_1, weights_1), (loss_2, weights_2) = step(name, 1), step(name, 2)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(weights_1, weights_2))
    results[name] = {"loss_1": loss_1, "loss_2": loss_2, "weight_diff": diff}
print(json.dumps(results))
"""


# One model per process: a second MirroredStrategy in the same process trips over
# the first one's collective ops.
@pytest.mark.parametrize("model", ["nice", "realnvp"])
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_devices_equal_one_device(backend, model):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, backend, model],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name, numbers in json.loads(result.stdout.strip().splitlines()[-1]).items():
        assert numbers["loss_2"] == pytest.approx(numbers["loss_1"], abs=1e-5), name
        assert numbers["weight_diff"] < 1e-5, name
