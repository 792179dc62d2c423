"""Training helpers shared by the recipes and the CLI: callbacks and the run folder.

A run folder holds `config.json` (how to rebuild the model), `best.weights.h5`
(the best weights on the monitored loss), `history.json` and the pictures.
"""

import json
import math
import pathlib
import time

import keras
import numpy as np


class KeepBestWeights(keras.callbacks.Callback):
    """Keeps the best weights in memory and restores them when the loss turns NaN
    or inf, then stops training: a diverged step never costs the best model.

    (Keras' `TerminateOnNaN` stops, but leaves the NaN weights in the model.)
    Use with `keras.callbacks.ModelCheckpoint(save_best_only=True)` for a copy on
    disk. At the end of training the best weights are restored when
    `restore_at_end` is true.

    Args:
        monitor: the epoch-level log to minimise (`"val_loss"` falls back to
            `"loss"` when there is no validation data).
        restore_at_end: load the best weights into the model when training ends.
    """

    def __init__(self, monitor="val_loss", restore_at_end=True):
        super().__init__()
        self.monitor = monitor
        self.restore_at_end = restore_at_end
        self.best = math.inf
        self.best_epoch = None
        self.best_weights = None
        self.diverged = False

    def on_train_begin(self, logs=None):
        self.best_weights = self.model.get_weights()

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = True
            self.model.set_weights(self.best_weights)
            self.model.stop_training = True
            print(
                f"\nKeepBestWeights: loss became {loss} at batch {batch}; "
                "restored the best weights and stopped training."
            )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor, logs.get("loss"))
        if value is not None and math.isfinite(float(value)) and value < self.best:
            self.best, self.best_epoch = float(value), epoch
            self.best_weights = self.model.get_weights()

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
        return float(np.median(self.seconds[1:] or self.seconds))


def run_callbacks(out, monitor="val_loss", extra=()):
    """The standard callbacks of a run in folder `out`: best checkpoint on disk,
    best weights in memory with a NaN guard, a CSV log, plus `extra`."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keep = KeepBestWeights(monitor=monitor)
    return keep, [
        keep,
        keras.callbacks.ModelCheckpoint(
            str(out / "best.weights.h5"),
            monitor=monitor,
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.CSVLogger(str(out / "history.csv")),
        *extra,
    ]


def save_run(out, name, kwargs, history, **extra):
    """Writes `config.json` (model name and constructor arguments) and
    `history.json` (the per-epoch logs) into the run folder `out`."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(
        json.dumps({"model": name, "kwargs": kwargs, **extra}, indent=2)
    )
    logs = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    (out / "history.json").write_text(json.dumps(logs, indent=2))


def load_run(out, models):
    """Rebuilds the model of run folder `out` with its best weights.

    Args:
        out: the run folder.
        models: `{name: model class}` to look the config's model name up in.
    """
    out = pathlib.Path(out)
    config_path = out / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(
            f"{out} is not a keras_flows run folder: no config.json in it."
        )
    config = json.loads(config_path.read_text())
    model = models[config["model"]](**config["kwargs"])
    model(np.zeros((1, *model.encoder.inputs[0].shape[1:]), "float32"))
    model.load_weights(str(out / "best.weights.h5"))
    return model, config
