"""The one training path: run folders that hold the model, the divergence guard,
resuming."""

import json

import keras
import numpy as np
import pytest
from conftest import in_session

from keras_flows import layers as L
from keras_flows.cli import main
from keras_flows.models import NICE, FlowModel
from keras_flows.training import (
    KeepBestWeights,
    LinearWarmup,
    load_run,
    rate_schedule,
    train,
)
from keras_flows.training.precision import float32_copy, policy_scope, precision_of


def data(n=64, dim=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, dim)).astype("float32")


def small_nice(**kwargs):
    return NICE(input_dim=8, hidden_units=16, hidden_layers=1, seed=0, **kwargs)


def image_flow():
    """A flow a user builds from layers, not a recipe model."""
    x_in = keras.Input((4, 4, 1))
    x = L.Actnorm()(L.Squeeze()(x_in))
    z = L.Permute("random", seed=0)(x)
    return FlowModel(keras.Model(x_in, z), image_shape=(4, 4, 1), data_range=(-1, 1))


def test_run_folder_holds_the_model_and_sample_works_on_it(tmp_path):
    model = image_flow()
    model.compile(keras.optimizers.Adam(1e-2))
    x = np.random.default_rng(0).uniform(-1, 1, (64, 4, 4, 1)).astype("float32")
    result = train(model, x, tmp_path / "run", epochs=3, batch_size=16, verbose=0)
    run = tmp_path / "run"
    for name in ("model.json", "model.weights.h5", "history.json", "resume"):
        assert (run / name).exists(), name
    assert result.epochs_run == 3
    assert json.loads((run / "history.json").read_text())["loss"] == pytest.approx(
        result.history.history["loss"]
    )
    loaded = load_run(run)
    assert type(loaded) is FlowModel
    np.testing.assert_allclose(loaded.log_prob(x[:4]), model.log_prob(x[:4]), atol=1e-5)
    main(["sample", str(run), "--temperature", "0.5", "--grid", "3"])
    assert (run / "sample_T0.5.png").exists()


@pytest.mark.slow
def test_a_bfloat16_run_loads_as_a_float32_model(tmp_path):
    with policy_scope("bfloat16"):
        model = image_flow()  # built from layers: their configs name the policy
        model.compile(keras.optimizers.Adam(1e-2))
    x = np.random.default_rng(0).uniform(-1, 1, (32, 4, 4, 1)).astype("float32")
    result = train(model, x, tmp_path, epochs=1, batch_size=16, verbose=0)
    assert result.summary()["precision"] == "bfloat16"
    loaded = load_run(tmp_path)
    assert precision_of(loaded) == "float32"
    np.testing.assert_allclose(
        loaded.log_prob(x[:4]), float32_copy(model).log_prob(x[:4]), atol=1e-5
    )
    np.testing.assert_allclose(loaded.reconstruct(x[:4]), x[:4], atol=1e-5)


@pytest.mark.slow
def test_model_weights_leave_the_optimizer_state_out(tmp_path):
    model = NICE(input_dim=64, hidden_units=256, hidden_layers=1)
    model.compile(keras.optimizers.Adam(1e-3))
    train(model, data(dim=64), tmp_path, epochs=1, batch_size=32, verbose=0)
    resume = sum(f.stat().st_size for f in (tmp_path / "resume").iterdir())
    # Adam keeps two moments per weight: the resume state is ~3x the model.
    assert resume > 2.5 * (tmp_path / "model.weights.h5").stat().st_size


def fit_poisoned(model, keep, epochs, poisoned_epoch):
    """`fit` with NaN written into `Scale`'s kernel after `poisoned_epoch`."""
    scale = model.encoder.layers[-1]

    def poison(epoch, logs):
        if epoch == poisoned_epoch:
            scale.kernel.assign(np.full(scale.kernel.shape, np.nan, "float32"))

    return model.fit(
        data(64),
        batch_size=16,
        epochs=epochs,
        verbose=0,
        callbacks=[keep, keras.callbacks.LambdaCallback(on_epoch_end=poison)],
    )


def test_nan_loss_restores_best_weights_and_stops():
    model = small_nice(noise=None)
    model.compile(keras.optimizers.Adam(1e-3))
    keep = KeepBestWeights(monitor="loss")
    history = fit_poisoned(model, keep, epochs=5, poisoned_epoch=0)
    assert keep.diverged and len(history.history["loss"]) == 2
    for w, best in zip(model.get_weights(), keep.best_weights):
        np.testing.assert_array_equal(w, best)
    assert np.isfinite(model.log_prob(data(4))).all()


@pytest.mark.slow
def test_divergence_can_lower_the_learning_rate_and_go_on():
    model = small_nice(noise=None)
    model.compile(keras.optimizers.Adam(1e-3))
    keep = KeepBestWeights(monitor="loss", on_divergence="reduce_lr")
    history = fit_poisoned(model, keep, epochs=4, poisoned_epoch=1)
    assert keep.diverged and len(history.history["loss"]) == 4
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    assert np.isfinite(history.history["loss"][-1])
    assert [event[0] for event in keep.events] == [3]


def test_linear_warmup_ramps_then_holds():
    schedule = LinearWarmup(1e-3, warmup_steps=4)
    rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(6)]
    np.testing.assert_allclose(rates, [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    config = keras.optimizers.schedules.serialize(schedule)
    assert keras.optimizers.schedules.deserialize(config).get_config() == {
        "rate": 1e-3,
        "warmup_steps": 4,
        "decay_steps": None,
    }
    with pytest.raises(ValueError, match="warmup_steps >= 1"):
        LinearWarmup(1e-3, 0)


def test_linear_warmup_then_cosine_to_zero():
    schedule = LinearWarmup(1e-3, warmup_steps=2, decay_steps=6)
    rates = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(8)]
    # Steps 1..6 (step + 1): ramp to 2, then a cosine over the 4 steps to 6.
    cosine = [1e-3 * 0.5 * (1 + np.cos(np.pi * k / 4)) for k in range(5)]
    np.testing.assert_allclose(rates, [5e-4, *cosine, 0.0, 0.0], atol=1e-9)
    assert schedule.scaled(0.1).get_config()["decay_steps"] == 6
    assert rate_schedule(1e-3) == 1e-3
    assert rate_schedule(1e-3, decay_steps=10).get_config() == {
        "rate": 1e-3,
        "warmup_steps": 1,
        "decay_steps": 10,
    }
    with pytest.raises(ValueError, match="decay_steps > warmup_steps"):
        LinearWarmup(1e-3, 4, decay_steps=4)


@pytest.mark.slow
def test_divergence_lowers_a_warmup_schedule_and_goes_on():
    model = small_nice(noise=None)
    model.compile(keras.optimizers.Adam(LinearWarmup(1e-3, warmup_steps=4)))
    keep = KeepBestWeights(monitor="loss", on_divergence="reduce_lr")
    history = fit_poisoned(model, keep, epochs=4, poisoned_epoch=1)
    assert keep.diverged and np.isfinite(history.history["loss"][-1])
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)


def test_divergence_refuses_a_schedule_it_cannot_lower():
    model = small_nice(noise=None)
    decay = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9)
    model.compile(keras.optimizers.Adam(decay))
    keep = KeepBestWeights(on_divergence="reduce_lr")
    with pytest.raises(ValueError, match="float learning rate or a `LinearWarmup`"):
        model.fit(data(16), batch_size=16, epochs=1, verbose=0, callbacks=[keep])


@pytest.mark.slow
def test_resumed_training_equals_straight_training(tmp_path):
    x = data(64)

    def run(out, epochs, resume=False):
        keras.utils.set_random_seed(0)
        # Without training noise; with it: tests/test_models.py.
        model = small_nice(noise=None)
        model.compile(keras.optimizers.Adam(1e-3))
        options = dict(epochs=epochs, batch_size=16, verbose=0, shuffle=False)
        train(model, x, out, resume=resume, **options)
        return model

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "resumed", 2)
    resumed = run(tmp_path / "resumed", 4, resume=True)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    history = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert len(history["loss"]) == 4


class Interrupt(keras.callbacks.Callback):
    """Raises `KeyboardInterrupt` (what Ctrl-C does) at batch `batch` of epoch
    `epoch`, 0-based."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


def _fresh_run(out, epochs, callbacks=(), resume=False, model=None):
    """`train` of a new NICE (or of `model`, put back as new: its first weights,
    a zeroed optimizer) on 64 vectors for `epochs`, into `out`."""
    if model is None:
        model = small_nice(noise=None)
        model.compile(keras.optimizers.Adam(1e-3))
    else:
        model.set_weights(model.first_weights)
        for variable in model.optimizer.variables:
            variable.assign(np.zeros(variable.shape, variable.dtype))
    options = dict(epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks)
    return train(model, data(64), out, resume=resume, **options)


def _reusable_nice():
    """A compiled NICE that `_fresh_run(..., model=)` puts back as new: one
    model (and one traced train step) for many short runs."""
    model = small_nice(noise=None)
    model.compile(keras.optimizers.Adam(1e-3))
    model.first_weights = model.get_weights()
    return model


def _history(out):
    return json.loads((out / "history.json").read_text())["loss"]


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_requested_epochs(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _fresh_run(out, 4, callbacks=[Interrupt(epoch=2, batch=1)])
    assert len(_history(out)) == 2  # the epochs that finished, no more
    _fresh_run(out, 4, resume=True)
    assert len(_history(out)) == 4 and np.isfinite(_history(out)).all()
    # Stopped before the first epoch ended: nothing to resume, said so.
    early = tmp_path / "early"
    with pytest.raises(KeyboardInterrupt):
        _fresh_run(early, 4, callbacks=[Interrupt(epoch=0, batch=2)])
    with pytest.raises(ValueError, match="nothing to resume"):
        _fresh_run(early, 4, resume=True)


class WorseLastEpoch(keras.callbacks.Callback):
    """Scales the weights by 3 when epoch `epoch` begins: that epoch's loss is
    worse than the best one before it."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.set_weights([3.0 * w for w in self.model.get_weights()])


@pytest.mark.slow
def test_a_resumed_run_ends_with_the_best_weights_of_all_its_sessions(tmp_path):
    """Resumed to the epochs it already has (nothing left to train), a run
    ends with its best weights, also when the best epoch is from an earlier
    session, and counts every epoch it has run."""
    out = tmp_path / "run"
    first = _fresh_run(out, 3, [WorseLastEpoch(2)])
    assert first.best_epoch < 3 and first.epochs_run == 3
    best = small_nice(noise=None)
    best.weights_model.load_weights(str(out / "model.weights.h5"))
    again = _fresh_run(out, 3, resume=True, model=_reusable_nice())
    assert again.epochs_run == 3 and again.best_epoch == first.best_epoch
    for a, b in zip(again.history.model.get_weights(), best.get_weights()):
        np.testing.assert_array_equal(a, b)


class SwallowingCode(keras.callbacks.Callback):
    """Ctrl-C pressed while code that swallows every exception runs at batch
    `batch` of epoch `epoch` (as Keras' `pythonify_logs` does, where the JAX
    trainer waits for most of each step)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            import os
            import signal
            import time

            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1.0)  # the handler runs here
            except:  # noqa: E722  (the swallowing this test is about)
                pass


def test_ctrl_c_stops_training_even_where_a_library_swallows_it(tmp_path):
    import signal

    # As in a terminal (a test runner's worker may ignore SIGINT).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    model = _reusable_nice()
    try:
        with pytest.raises(KeyboardInterrupt):
            _fresh_run(tmp_path / "run", 3, [SwallowingCode(1, 1)], model=model)
        assert len(_history(tmp_path / "run")) == 1  # epoch 2 did not finish
        # Swallowed in the last batch of the last epoch: `train` still raises.
        with pytest.raises(KeyboardInterrupt):
            _fresh_run(tmp_path / "last", 2, [SwallowingCode(1, 3)], model=model)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
@in_session("jax")  # the run folder's file writes: no backend in them
def test_a_kill_while_any_file_is_written_leaves_a_run_that_resumes(
    tmp_path, monkeypatch
):
    """A kill between writing a file and renaming it into place, at every file
    the first two epochs write: the run resumes to all its epochs."""
    import os

    from keras_flows.training import run_folder

    replace, calls = os.replace, []

    def killed_at(k):
        def fake_replace(src, dst):
            calls.append(dst)
            if len(calls) == k:
                raise KeyboardInterrupt
            replace(src, dst)

        return fake_replace

    # Two models reused for every kill (the killed run and the resumed one):
    # weights and optimizer state still come from the files on resume.
    killed, resumed = _reusable_nice(), _reusable_nice()
    writes = None
    k = 1
    while writes is None or k <= writes:
        calls.clear()
        out = tmp_path / f"kill_{k}"
        monkeypatch.setattr(run_folder.os, "replace", killed_at(k))
        try:
            _fresh_run(out, 2, model=killed)
            writes = len(calls)  # no kill: every write of two epochs counted
        except KeyboardInterrupt:
            pass
        monkeypatch.setattr(run_folder.os, "replace", replace)
        assert not list(out.glob("**/.tmp_*")), "a temporary file was left"
        try:
            _fresh_run(out, 3, resume=True, model=resumed)
        except ValueError as error:  # killed before the first epoch's state
            assert "nothing to resume" in str(error)
            assert run_folder.read_state(out / "resume") is None
        else:
            assert len(_history(out)) == 3
        k += 1


def test_collapse_guard_reads_the_training_loss():
    model = small_nice(noise=None)
    model.compile(keras.optimizers.Adam(1e-3))
    keep = KeepBestWeights(on_divergence="reduce_lr", max_jump=1.0)
    keep.set_model(model)
    keep.on_train_begin()
    keep.on_epoch_begin(0)
    keep.on_epoch_end(0, {"loss": 10.0, "val_loss": 5.0})
    keep.on_epoch_end(1, {"loss": 10.5, "val_loss": 50.0})  # noisy validation
    assert not keep.diverged
    keep.on_epoch_end(2, {"loss": 12.0, "val_loss": 5.0})  # training jumped
    assert keep.diverged
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)


@pytest.mark.slow
def test_only_the_chief_writes_the_run_folder(tmp_path, monkeypatch):
    """Another worker of a cluster trains all the same, into a temporary folder
    that is gone afterwards (tests/test_distribution.py runs two real workers)."""
    import tempfile

    from keras_flows.training import devices as device_setup

    monkeypatch.setattr(device_setup, "is_chief", lambda: False)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    model = small_nice(noise=None)
    model.compile(keras.optimizers.Adam(1e-3))
    result = train(model, data(64), tmp_path / "run", epochs=2, batch_size=16,
                   verbose=0)  # fmt: skip
    assert result.epochs_run == 2 and result.best_epoch is not None
    assert not (tmp_path / "run").exists()
    assert list(scratch.iterdir()) == []


def test_a_worker_writes_into_one_scratch_folder_however_nested(tmp_path, monkeypatch):
    """The command line and the training loop both ask `for_this_worker`: a
    worker that is not the chief gets one temporary folder, gone afterwards,
    and the run folder is not touched; the chief gets the run folder."""
    import tempfile

    from keras_flows.training import run_folder

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = tmp_path / "run"
    with run_folder.for_this_worker(out, chief=False) as outer:
        with run_folder.for_this_worker(outer, chief=False) as inner:
            assert inner == outer and outer.parent == scratch
            (inner / "metrics.json").write_text("{}")
        assert len(list(scratch.iterdir())) == 1
    assert list(scratch.iterdir()) == [] and not out.exists()
    with run_folder.for_this_worker(out, chief=True) as folder:
        assert folder == out


def test_auto_precision_is_bfloat16_only_where_it_is_measured_faster(monkeypatch):
    """The "auto" precision: bfloat16 on TensorFlow with a CPU that has AMX
    tiles; float32 with AVX-512 BF16 alone (measured no faster), on other
    CPUs and on JAX (XLA on CPU gains nothing)."""
    from keras_flows.training import precision

    for units in ("amx", "avx512_bf16", None):
        monkeypatch.setattr(precision, "bfloat16_units", lambda units=units: units)
        chosen, why = precision.resolve_precision("auto")
        on_tf = keras.backend.backend() == "tensorflow"
        assert chosen == ("bfloat16" if units == "amx" and on_tf else "float32")
        assert why.startswith("auto")
        # Asked for by name, bfloat16 is kept, with a word where it is slow.
        chosen, why = precision.resolve_precision("bfloat16")
        assert chosen == "bfloat16" and ("no faster" in why) == (units != "amx")
    assert precision.resolve_precision("float16") == ("float16", "as asked")
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.resolve_precision("int8")
