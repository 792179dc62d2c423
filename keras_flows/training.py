"""The one training path of every recipe and of the command line.

`train(model, x, out, ...)` runs `model.fit` with Keras' progress bar and writes a
*run folder* `out` that holds the model itself:

- `model.json`: the model's Keras config (rebuilds any `FlowModel`, also one a
  user built from layers), written before training starts;
- `model.weights.h5`: the best weights so far (no optimizer state), rewritten
  whenever the monitored loss improves;
- `history.csv` / `history.json`: the per-epoch logs;
- `samples/epoch_NNN.png`: a picture per epoch, when a `picture` function is given;
- `resume/`: weights plus optimizer state and epoch counter, rewritten every epoch
  (Keras' `BackupAndRestore`), so `train(..., resume=True)` continues a run.

`load_run(out)` rebuilds the model with its best weights: `keras-flows sample DIR`
uses it for any run folder.

In multi-worker training (a `TF_CONFIG` cluster, several JAX processes) every
worker runs `train`, but only the chief writes `out`; the others write into a
temporary folder, deleted when `train` returns (`keras_flows.distribute`).
"""

import contextlib
import csv
import dataclasses
import json
import math
import pathlib
import shutil
import tempfile
import time

import keras
import numpy as np

from keras_flows import distribute


@keras.saving.register_keras_serializable(package="keras_flows")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """`rate * min(1, (step + 1) / warmup_steps)`: the learning rate ramps up
    linearly over the first `warmup_steps` optimizer steps, then stays at
    `rate` (the Glow paper's code warms up too). `KeepBestWeights` lowers it by
    `scaled(factor)`.

    Example:

    >>> import keras
    >>> optimizer = keras.optimizers.Adam(LinearWarmup(1e-3, warmup_steps=100))
    """

    def __init__(self, rate, warmup_steps):
        if not warmup_steps >= 1:
            raise ValueError(
                f"`LinearWarmup` needs warmup_steps >= 1. Received: {warmup_steps}"
            )
        self.rate, self.warmup_steps = float(rate), int(warmup_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        return self.rate * keras.ops.minimum(1.0, (step + 1.0) / self.warmup_steps)

    def scaled(self, factor):
        """The same ramp to `rate * factor`."""
        return LinearWarmup(self.rate * factor, self.warmup_steps)

    def get_config(self):
        return {"rate": self.rate, "warmup_steps": self.warmup_steps}


def rate_schedule(rate, warmup_steps=None):
    """`rate`, or a `LinearWarmup` to it over `warmup_steps` steps."""
    return LinearWarmup(rate, warmup_steps) if warmup_steps else rate


class KeepBestWeights(keras.callbacks.Callback):
    """Keeps the best weights in memory (and on disk) and guards against
    divergence: a NaN/inf batch loss never costs the best model.

    On a non-finite loss the best weights are restored and any non-finite
    optimizer state (Adam's moments after a NaN step) is zeroed; then training
    stops (`on_divergence="stop"`), or goes on with the learning rate times
    `lr_factor` (`"reduce_lr"`, the seed Glow script's collapse guard, which also
    fires when an epoch's training loss exceeds the best training loss by more
    than `max_jump` after `warmup_epochs`). Keras' `TerminateOnNaN` stops but
    leaves the NaN weights.

    Args:
        monitor: the epoch-level log to minimise (`"val_loss"` falls back to
            `"loss"` when there is no validation data).
        path: where to save the best weights (`network.save_weights`, no
            optimizer state), or `None`.
        on_divergence: `"stop"` or `"reduce_lr"`.
        lr_factor: learning-rate factor of `"reduce_lr"`.
        max_jump: an epoch loss above `best + max_jump` counts as divergence
            (`"reduce_lr"` only).
        warmup_epochs: epochs before the `max_jump` rule applies.
        restore_at_end: load the best weights into the model when training ends.
    """

    def __init__(
        self,
        monitor="val_loss",
        path=None,
        on_divergence="stop",
        lr_factor=0.1,
        max_jump=math.inf,
        warmup_epochs=0,
        restore_at_end=True,
    ):
        super().__init__()
        if on_divergence not in ("stop", "reduce_lr"):
            raise ValueError(
                "`on_divergence` must be 'stop' or 'reduce_lr'. "
                f"Received: on_divergence={on_divergence!r}"
            )
        self.monitor = monitor
        self.path = path
        self.on_divergence = on_divergence
        self.lr_factor = lr_factor
        self.max_jump = max_jump
        self.warmup_epochs = warmup_epochs
        self.restore_at_end = restore_at_end
        self.best = math.inf
        self.best_loss = math.inf  # best training loss, for the jump rule
        self.best_epoch = None
        self.best_weights = None
        self.diverged = False
        self.events = []  # (epoch, batch, what happened), also printed

    def on_train_begin(self, logs=None):
        schedule = getattr(self.model.optimizer, "_learning_rate", None)
        schedules = keras.optimizers.schedules.LearningRateSchedule
        if (
            self.on_divergence == "reduce_lr"
            and isinstance(schedule, schedules)
            and not isinstance(schedule, LinearWarmup)
        ):
            raise ValueError(
                "on_divergence='reduce_lr' needs a float learning rate or a "
                f"`LinearWarmup`. Received: {type(schedule).__name__}"
            )
        self.best_weights = self.model.get_weights()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._diverge(f"loss became {float(loss)} at batch {batch}")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor, logs.get("loss"))
        if value is None or not math.isfinite(float(value)):
            return
        value = float(value)
        if value < self.best:
            self.best, self.best_epoch = value, epoch
            self.best_weights = self.model.get_weights()
            if self.path is not None:
                network_of(self.model).save_weights(str(self.path))
        # The jump rule reads the training loss, as the seed's collapse guard:
        # a validation loss also moves with the model's fit to the held-out set.
        loss = float(logs.get("loss", math.nan))
        if (
            self.on_divergence == "reduce_lr"
            and epoch >= self.warmup_epochs
            and loss > self.best_loss + self.max_jump
        ):
            best, jump = self.best_loss, self.max_jump
            self._diverge(f"epoch loss {loss:.4g} > best {best:.4g} + {jump:.4g}")
        elif math.isfinite(loss):
            self.best_loss = min(self.best_loss, loss)

    def _diverge(self, why):
        self.diverged = True
        self.model.set_weights(self.best_weights)
        # The batch logs are running means: one NaN batch would poison the
        # rest of the epoch's logs, so the mean restarts here.
        for metric in self.model.metrics:
            metric.reset_state()
        for variable in self.model.optimizer.variables:
            value = keras.ops.convert_to_numpy(variable)
            if not np.isfinite(value).all():
                variable.assign(np.zeros_like(value))
        if self.on_divergence == "stop":
            self.model.stop_training = True
            action = "restored the best weights and stopped training"
        else:
            new = self._lower_learning_rate()
            action = f"restored the best weights; learning rate now {new:.3g}"
        self.events.append((self._epoch + 1, why, action))
        print(f"\nKeepBestWeights: {why}; {action}.")

    def _lower_learning_rate(self):
        """Multiplies the learning rate by `lr_factor`; returns the new rate. A
        `LinearWarmup` schedule is replaced by its scaled copy, and the train
        function rebuilt (the compiled step holds the old schedule)."""
        optimizer = self.model.optimizer
        schedule = getattr(optimizer, "_learning_rate", None)
        if isinstance(schedule, LinearWarmup):
            optimizer.learning_rate = schedule = schedule.scaled(self.lr_factor)
            self.model.make_train_function(force=True)
            return schedule.rate
        new = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        optimizer.learning_rate = new * self.lr_factor
        return new * self.lr_factor

    def on_train_end(self, logs=None):
        if self.restore_at_end and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class EpochCallback(keras.callbacks.Callback):
    """Calls `fn(model, epoch)` after every epoch (e.g. to write a sample grid)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def on_epoch_end(self, epoch, logs=None):
        self.fn(self.model, epoch)


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of every epoch (`seconds`, one entry per epoch)."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

    @property
    def steady_seconds_per_epoch(self):
        """Median epoch time, leaving out the first epoch (compilation) when
        there are others."""
        if not self.seconds:
            return math.nan
        return float(np.median(self.seconds[1:] or self.seconds))


def network_of(model):
    """The uncompiled functional model holding every weight of `model` (its
    `network` if it has one, else its `encoder`): saving it leaves the
    optimizer state out."""
    return getattr(model, "network", None) or model.encoder


@dataclasses.dataclass
class TrainResult:
    """What `train` returns: Keras' `History`, the best-weights guard (best loss,
    best epoch, divergence events) and the epoch timer."""

    history: keras.callbacks.History
    guard: KeepBestWeights
    timer: EpochTimer

    @property
    def best_epoch(self):
        """1-based epoch of the best monitored loss, or `None`."""
        return None if self.guard.best_epoch is None else self.guard.best_epoch + 1

    @property
    def epochs_run(self):
        return len(self.history.history.get("loss", []))

    def summary(self):
        """The run's facts every recipe reports in `metrics.json`."""
        return dict(
            epochs_run=self.epochs_run,
            best_epoch=self.best_epoch,
            seconds_per_epoch=self.timer.steady_seconds_per_epoch,
            diverged=self.guard.diverged,
            divergence_events=[list(event) for event in self.guard.events],
        )


def train(
    model,
    x,
    out,
    epochs,
    batch_size=None,
    validation_data=None,
    validation_split=0.0,
    shuffle=True,
    picture=None,
    patience=None,
    resume=False,
    callbacks=(),
    verbose=1,
    **guard_options,
):
    """Fits a compiled `FlowModel` on `x` and writes the run folder `out`.

    The model holds its best weights when this returns (restored by the guard).

    Args:
        model: a compiled `FlowModel`.
        x: training data (array, `tf.data.Dataset`, `keras.utils.PyDataset`).
        out: the run folder (created).
        epochs: the total number of epochs (also when resuming).
        batch_size: for array data.
        validation_data, validation_split: as `keras.Model.fit`; the best
            weights are chosen on `val_loss` when given, else on `loss`.
        shuffle: as `keras.Model.fit`.
        picture: `fn(model, path)` that writes a PNG, called after every epoch
            with `out/samples/epoch_NNN.png`.
        patience: stop after this many epochs without a better monitored loss.
        resume: continue from `out/resume/` (weights, optimizer state, epoch)
            when it exists.
        callbacks: more Keras callbacks.
        verbose: `fit` verbosity (1: Keras' progress bar).
        **guard_options: `KeepBestWeights` options (`on_divergence`, ...).

    Returns:
        A `TrainResult`.
    """
    with _writable_folder(out, resume) as out:
        replicas = distribute.replicas_of(model)
        if replicas > 1 and validation_split and isinstance(x, np.ndarray):
            # Split as `fit` does, so that both parts can be evened out below.
            split_at = int(math.floor(len(x) * (1.0 - validation_split)))
            x, validation_data, validation_split = x[:split_at], x[split_at:], 0.0
        x = distribute.even_batches(x, batch_size, replicas)
        x = distribute.even_dataset(x, replicas)
        # Validation arrays go in batches of `batch_size`, 32 without one (`fit`).
        validation_data = distribute.even_batches(
            validation_data, batch_size or 32, replicas, "validation_data"
        )
        if not resume:  # a new run in an old folder replaces it, never resumes it
            shutil.rmtree(out / "resume", ignore_errors=True)
            (out / "best.json").unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        save_model_config(model, out)
        validated = validation_data is not None or validation_split
        monitor = "val_loss" if validated else "loss"
        guard = KeepBestWeights(monitor, path=out / "model.weights.h5", **guard_options)
        if resume and (out / "best.json").exists():
            best = json.loads((out / "best.json").read_text())
            guard.best, guard.best_epoch = best["loss"], best["epoch"] - 1
        timer = EpochTimer()
        # BackupAndRestore first: it restores weights before the guard copies them.
        all_callbacks = [
            keras.callbacks.BackupAndRestore(
                str(out / "resume"), delete_checkpoint=False
            ),
            guard,
            timer,
            keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume),
            EpochCallback(lambda model, epoch: _write_best(out, guard)),
        ]
        if picture is not None:
            (out / "samples").mkdir(exist_ok=True)
            all_callbacks.append(
                EpochCallback(
                    lambda model, epoch: picture(
                        model, out / "samples" / f"epoch_{epoch + 1:03d}.png"
                    )
                )
            )
        if patience:
            all_callbacks.append(
                keras.callbacks.EarlyStopping(monitor=monitor, patience=patience)
            )
        history = model.fit(
            x,
            batch_size=batch_size,
            epochs=epochs,
            validation_data=validation_data,
            validation_split=validation_split,
            shuffle=shuffle,
            callbacks=[*all_callbacks, *callbacks],
            verbose=verbose,
        )
        _write_history(out)
        return TrainResult(history, guard, timer)


@contextlib.contextmanager
def _writable_folder(out, resume):
    """`out` on the chief; on another worker of a cluster, a temporary folder
    (deleted afterwards) holding a copy of the chief's resume state: every
    worker runs every step (the collectives need it) and may keep checkpoints,
    but only the chief writes the run folder."""
    out = pathlib.Path(out)
    if distribute.is_chief():
        yield out
        return
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="keras_flows_worker_"))
    if resume and (out / "resume").is_dir():  # a file system the workers share
        shutil.copytree(out / "resume", scratch / "resume")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_best(out, guard):
    if guard.best_epoch is not None:
        best = {"epoch": guard.best_epoch + 1, "loss": guard.best}
        (out / "best.json").write_text(json.dumps(best))


def _write_history(out):
    """`history.json` from `history.csv` (which survives resumed runs)."""
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    keys = rows[0].keys() if rows else ()
    # CSVLogger writes "NA" for a value an epoch did not log: null in JSON.
    logs = {k: [None if r[k] == "NA" else float(r[k]) for r in rows] for k in keys}
    (out / "history.json").write_text(json.dumps(logs, indent=2))


def save_model_config(model, out):
    """Writes `out/model.json`, the model's Keras config (no weights)."""
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)  # rebuilt models are for inference
    (pathlib.Path(out) / "model.json").write_text(json.dumps(config, indent=1))


def load_run(out):
    """Rebuilds the model of the run folder `out` with its best weights.

    Works for every `FlowModel`, also one built from layers, as long as its
    classes are registered Keras serializables (all of `keras_flows` are).

    Raises:
        FileNotFoundError: `out` is not a run folder or has no weights yet.
    """
    out = pathlib.Path(out)
    config_path, weights_path = out / "model.json", out / "model.weights.h5"
    if not out.is_dir():
        raise FileNotFoundError(f"No run folder at {out}.")
    if not config_path.exists():
        raise FileNotFoundError(
            f"{out} is not a keras_flows run folder: no model.json in it."
        )
    if not weights_path.exists():
        raise FileNotFoundError(
            f"The run in {out} has no saved weights yet (model.weights.h5 is "
            "written at the end of the first epoch)."
        )
    import keras_flows.models  # noqa: F401  (registers the classes to rebuild)

    model = keras.saving.deserialize_keras_object(json.loads(config_path.read_text()))
    network_of(model).load_weights(str(weights_path))
    return model
