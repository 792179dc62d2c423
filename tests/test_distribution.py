"""Training on two devices equals training on one with the same global batch:
loss and weights to 1e-5, for every model, on TensorFlow
(`MirroredStrategy`) and JAX (`keras.distribution.DataParallel`); data-dependent
Actnorm init sees the global first batch, once.

Each check runs in a subprocess, because the virtual devices must be configured
before TensorFlow or JAX starts; the five models train one after the other in
one process, as in a notebook (on TensorFlow that needs the library's one
`MirroredStrategy` per set of devices: a second one aborts the first one's
collective ops).
"""

import fcntl
import functools
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import BACKEND, in_session

from keras_flows.training import batches
from keras_flows.training import devices as device_setup

PRELUDE = """
import json, os, sys
os.environ["KERAS_BACKEND"] = backend = sys.argv[1]
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from keras_flows.training import devices as device_setup
device_setup.use_virtual_cpus(2)  # before the backend starts
import keras
import numpy as np
"""

SCRIPT = (
    PRELUDE
    + """
from keras_flows import layers as L
from keras_flows.models import FVAE, NICE, Glow, RealNVP

# Every data-dependent Actnorm initialisation: layer, parameters right after it.
inits = []
initialize = L.Actnorm.initialize


def recording_initialize(self, x):
    initialize(self, x)
    inits.append((self.name, keras.ops.convert_to_numpy(self.log_scale).tolist(),
                  keras.ops.convert_to_numpy(self.shift).tolist()))


L.Actnorm.initialize = recording_initialize

MODELS = {
    "nice": (lambda: NICE(8, hidden_units=16, hidden_layers=1, noise=None), (8,)),
    "realnvp": (lambda: RealNVP(coupling_layers=2, coupling_dim=8), (2,)),
    "glow": (lambda: Glow((8, 8, 1), levels=2, depth=1, hidden_channels=8,
                          coupling="affine", permutation="conv1x1",
                          actnorm_data_init=True, seed=0), (8, 8, 1)),
    "fvae": (lambda: FVAE((8, 8, 1), encoder_levels=1, encoder_blocks=1,
                          flow_levels=2, flow_depth=1, hidden_channels=8,
                          seed=0), (8, 8, 1)),
    "glow_conditional": (lambda: Glow((8, 8, 1), levels=2, depth=1,
                                      hidden_channels=8, num_classes=3, seed=0),
                         (8, 8, 1)),
}


def train(name, devices):
    make, shape = MODELS[name]
    x = np.random.default_rng(0).uniform(-1, 1, size=(32, *shape)).astype("float32")
    y = np.arange(32) % 3 if name == "glow_conditional" else None
    keras.utils.set_random_seed(0)
    del inits[:]
    with device_setup.distribution_scope(devices):
        model = make()
        model.compile(keras.optimizers.SGD(0.01))
        # Two steps of a global batch of 16; Glow then one more fit call on
        # other data: its data-dependent init must not run again.
        history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        if name == "glow":
            model.fit(x[16:], batch_size=16, epochs=1, shuffle=False, verbose=0)
    return dict(loss=history.history["loss"][0], inits=list(inits),
                weights=model.get_weights(), first_batch=x[:16])


results = {}
for name in sys.argv[2:]:
    one, two = train(name, 1), train(name, 2)
    diffs = [float(np.abs(a - b).max()) for a, b in zip(one["weights"], two["weights"])]
    results[name] = {"loss_1": one["loss"], "loss_2": two["loss"],
                     "weight_diff": max(diffs), "inits_1": one["inits"],
                     "inits_2": two["inits"],
                     "first_batch": one["first_batch"].tolist()}
print(json.dumps(results))
"""
)


@functools.cache  # a run serves several tests
def run(script, *args, timeout=600):
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def squeeze(x):
    """`Squeeze` in numpy: (B, H, W, C) -> (B, H/2, W/2, 4C), channels
    (row offset, column offset, c)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h // 2, w // 2, 4 * c)


MODEL_NAMES = ("nice", "realnvp", "glow", "fvae", "glow_conditional")


@pytest.fixture(scope="session")
def two_devices(tmp_path_factory):
    """Every model's numbers on 1 and 2 devices in this session's backend, from
    one subprocess per test session: with pytest-xdist the first test process
    to ask runs it and the others read its file (pytest-xdist's recipe for a
    session fixture that runs once)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # one test process
        return run(SCRIPT, BACKEND, *MODEL_NAMES)
    shared = tmp_path_factory.getbasetemp().parent / "two_devices.json"
    with open(shared.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait for the first
        if not shared.exists():
            shared.write_text(json.dumps(run(SCRIPT, BACKEND, *MODEL_NAMES)))
    return json.loads(shared.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_two_devices_equal_one_device(two_devices, model):
    numbers = two_devices[model]
    # The loss to 1e-5 or 1e-6 relative: Glow's and f-VAE's are ~70 nats, where
    # float32 steps by 8e-6, and two devices sum the batch in another order.
    loss = pytest.approx(numbers["loss_1"], abs=1e-5, rel=1e-6)
    assert numbers["weight_diff"] < 1e-5
    assert numbers["loss_2"] == loss


@pytest.mark.slow
def test_actnorm_data_init_uses_the_global_first_batch_once(two_devices):
    numbers = two_devices["glow"]
    # Three data-init Actnorms (a step per level, the last level's prior), each
    # initialised once over two fit calls (three steps).
    names = [name for name, *_ in numbers["inits_1"]]
    assert len(names) == len(set(names)) == 3
    assert [name for name, *_ in numbers["inits_2"]] == names
    for (_, scale_1, shift_1), (_, scale_2, shift_2) in zip(
        numbers["inits_1"], numbers["inits_2"]
    ):
        np.testing.assert_allclose(scale_2, scale_1, atol=1e-5)
        np.testing.assert_allclose(shift_2, shift_1, atol=1e-5)
    # The first Actnorm sees Squeeze(first global batch): its statistics are
    # those of all 16 images, not of one replica's 8.
    x = squeeze(np.asarray(numbers["first_batch"], "float32"))
    std, mean = x.std(axis=(0, 1, 2)), x.mean(axis=(0, 1, 2))
    _, log_scale, shift = numbers["inits_2"][0]
    np.testing.assert_allclose(log_scale, -np.log(std + 1e-6), atol=1e-5)
    np.testing.assert_allclose(shift, -mean / (std + 1e-6), atol=1e-5)
    half = x[: len(x) // 2]
    assert not np.allclose(log_scale, -np.log(half.std(axis=(0, 1, 2)) + 1e-6))


NOISE_SCRIPT = (
    PRELUDE
    + """
import tensorflow as tf
from keras_flows.models import FVAE

x = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 1)).astype("float32")


def outputs(devices):
    keras.utils.set_random_seed(0)
    with device_setup.distribution_scope(devices) as strategy:
        model = FVAE((8, 8, 1), encoder_levels=1, encoder_blocks=1, flow_levels=2,
                     flow_depth=1, hidden_channels=8, seed=0)
        noise = model.network.get_layer("dequantize")
        step = tf.function(lambda x: (noise(x, training=True),
                                      model(x, training=True)))
        if strategy is None:
            return [np.asarray(v) for v in step(x)]
        data = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors(x))
        results = strategy.run(step, args=(next(iter(data)),))
        return [np.concatenate(strategy.experimental_local_results(r))
                for r in results]


(noisy_1, elbo_1), (noisy_2, elbo_2) = outputs(1), outputs(2)
print(json.dumps({"dequantize": float(np.abs(noisy_1 - noisy_2).max()),
                  "fvae": float(np.abs(elbo_1 - elbo_2).max())}))
"""
)


@pytest.mark.slow
@in_session("tensorflow")
def test_library_noise_is_the_one_device_draw_on_tensorflow():
    diffs = run(NOISE_SCRIPT, "tensorflow")
    assert diffs["dequantize"] < 1e-6 and diffs["fvae"] < 1e-4, diffs


@pytest.mark.parametrize(
    "text, expected", [("2", 2), ("all", "all"), ("ALL", "all"), ("1", 1)]
)
def test_parse_devices(text, expected):
    assert device_setup.parse_devices(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_parse_devices_rejects(text):
    with pytest.raises(ValueError):
        device_setup.parse_devices(text)


def test_choose_devices():
    gpus = ["/device:GPU:0", "/device:GPU:1"]
    assert device_setup.choose_devices("all", gpus) == gpus
    assert device_setup.choose_devices(1, gpus) == gpus[:1]
    with pytest.raises(ValueError, match="asked for 4 devices.*has 2"):
        device_setup.choose_devices(4, gpus)
    with pytest.raises(ValueError, match="use_virtual_cpus"):
        device_setup.choose_devices(2, ["/device:CPU:0"])


WORKERS = {"worker": ["a:1", "b:2"]}
WITH_CHIEF = {"chief": ["a:1"], "worker": ["b:2"]}


@pytest.mark.parametrize(
    "cluster, task, chief",
    [
        (None, None, True),
        (WORKERS, ("worker", 0), True),  # no chief task: worker 0 is the chief
        (WORKERS, ("worker", 1), False),
        (WITH_CHIEF, ("worker", 0), False),
        (WITH_CHIEF, ("chief", 0), True),
    ],
)
def test_only_the_chief_writes(cluster, task, chief, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    if cluster is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        kind, index = task
        config = {"cluster": cluster, "task": {"type": kind, "index": index}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert device_setup.is_chief() is chief
    assert device_setup.is_multi_worker() is (cluster is not None)


WORKER_SCRIPT = """
import json, os, sys
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from keras_flows.training import devices as device_setup
import keras
import numpy as np
from keras_flows.models import NICE
from keras_flows.training import train

# MultiWorkerMirroredStrategy from TF_CONFIG when it names a cluster, else none.
with device_setup.distribution_scope() as strategy:
    keras.utils.set_random_seed(0)
    model = NICE(8, hidden_units=16, hidden_layers=1, noise=None, seed=0)
    model.compile(keras.optimizers.SGD(0.1))
# Every worker passes the whole data set; fit's auto-sharding gives each worker
# its half of every global batch of 32 (two steps).
x = np.random.default_rng(0).uniform(size=(64, 8)).astype("float32")
result = train(model, x, sys.argv[1], epochs=1, batch_size=32, shuffle=False,
               verbose=0)
print(json.dumps({
    "loss": result.history.history["loss"][0],
    "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
    "chief": device_setup.is_chief(),
    "weights": [w.tolist() for w in model.get_weights()],
}))
"""


def _free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
@in_session("tensorflow")  # MultiWorkerMirroredStrategy is TensorFlow's
def test_two_workers_equal_one_process_and_only_the_chief_writes(tmp_path):
    """`MultiWorkerMirroredStrategy` across two processes on localhost (gRPC):
    both workers end with the weights of one process trained on the global
    batch (each worker read its own half: had both read the same rows, the
    gradients and so the weights would differ), and only worker 0 writes."""
    try:
        ports = _free_ports(2)
    except OSError as error:
        pytest.skip(f"no localhost ports for the workers' gRPC servers: {error}")
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config)}
        command = [sys.executable, "-c", WORKER_SCRIPT, str(tmp_path / f"run_{index}")]
        workers.append(
            subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        outputs = [worker.communicate(timeout=600) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    single = subprocess.run(
        [sys.executable, "-c", WORKER_SCRIPT, str(tmp_path / "run_single")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    one = json.loads(single.stdout.strip().splitlines()[-1])
    chief, other = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert (chief["replicas"], chief["chief"], other["chief"]) == (2, True, False)
    for worker in (chief, other):
        assert worker["loss"] == pytest.approx(one["loss"], abs=1e-5)
        for a, b in zip(worker["weights"], one["weights"]):
            np.testing.assert_allclose(a, b, atol=1e-5)
    assert (tmp_path / "run_0" / "model.weights.h5").exists()
    assert (tmp_path / "run_0" / "history.json").exists()
    assert not (tmp_path / "run_1").exists()


def test_even_batches_drop_what_the_devices_cannot_split():
    x = np.arange(129)
    with pytest.warns(UserWarning, match="dropping the last 1 of the 129"):
        assert len(batches.even_batches(x, 64, 2)) == 128
    # A last batch of 33 over 4 devices: 32 stay.
    with pytest.warns(UserWarning, match="last batch of 33"):
        assert len(batches.even_batches(np.arange(97), 64, 4)) == 96
    assert batches.even_batches(x, 64, 1) is x
    assert len(batches.even_batches(np.arange(130), 64, 2)) == 130


JAX_PROCESS_SCRIPT = """
import json, os, sys
os.environ["KERAS_BACKEND"] = "jax"
import keras
import numpy as np
process, count, address, out = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:]
if count > 1:
    keras.distribution.initialize(address, num_processes=count, process_id=process)
from keras_flows.training import devices as device_setup
from keras_flows.models import NICE
from keras_flows.training import train

# The data are sharded by hand (numpy arrays cannot be auto-sharded): process p
# feeds its part of every global batch of 32, and batch_size is per process.
distribution = keras.distribution.DataParallel(
    devices=keras.distribution.list_devices(), auto_shard_dataset=False
)
with distribution.scope():
    keras.utils.set_random_seed(0)
    model = NICE(8, hidden_units=16, hidden_layers=1, noise=None, seed=0)
    model.compile(keras.optimizers.SGD(0.1))
    x = np.random.default_rng(0).uniform(size=(64, 8)).astype("float32")
    batches = x.reshape(2, count, 32 // count, 8)  # (step, process, row, 8)
    result = train(model, batches[:, process].reshape(-1, 8), out, epochs=1,
                   batch_size=32 // count, shuffle=False, verbose=0)
print(json.dumps({
    "loss": result.history.history["loss"][0],
    "devices": len(distribution.device_mesh.devices.ravel()),
    "chief": device_setup.is_chief(),
    "weights": [np.asarray(w).tolist() for w in model.get_weights()],
}))
"""


@pytest.mark.slow
@in_session("jax")
def test_two_jax_processes_equal_one_process_and_only_process_0_writes(tmp_path):
    """`keras.distribution.initialize` (`jax.distributed.initialize`) across two
    processes on localhost, one CPU device each, `DataParallel` over both."""
    try:
        (port,) = _free_ports(1)
    except OSError as error:
        pytest.skip(f"no localhost port for the JAX coordinator: {error}")
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                JAX_PROCESS_SCRIPT,
                str(index),
                "2",
                f"localhost:{port}",
                str(tmp_path / f"run_{index}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(2)
    ]
    try:
        outputs = [process.communicate(timeout=600) for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    one = run(JAX_PROCESS_SCRIPT, "0", "1", "-", str(tmp_path / "run_single"))
    first, second = (json.loads(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert (first["devices"], first["chief"], second["chief"]) == (2, True, False)
    for process in (first, second):
        assert process["loss"] == pytest.approx(one["loss"], abs=1e-5)
        for a, b in zip(process["weights"], one["weights"]):
            np.testing.assert_allclose(a, b, atol=1e-5)
    assert (tmp_path / "run_0" / "model.weights.h5").exists()
    assert not (tmp_path / "run_1").exists()


class Batches(keras.utils.PyDataset):
    """Batches of 4, 4 and `last` samples, as a folder of 8 + `last` images."""

    def __init__(self, last):
        super().__init__()
        self.sizes = [4, 4, last]

    def __len__(self):
        return len(self.sizes)

    def __getitem__(self, index):
        return np.zeros((self.sizes[index], 2), "float32")


def test_even_dataset_cuts_batches_the_devices_cannot_split():
    with pytest.warns(UserWarning, match="last batch of 3 samples loses 1"):
        data = batches.even_dataset(Batches(3), 2)
    assert [len(data[i]) for i in range(len(data))] == [4, 4, 2]
    with pytest.warns(UserWarning, match="last batch of 1 samples loses 1"):
        data = batches.even_dataset(Batches(1), 2)
    assert len(data) == 2  # no empty batch
    dataset = Batches(3)
    assert batches.even_dataset(dataset, 1) is dataset
