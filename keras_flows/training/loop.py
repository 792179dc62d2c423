"""The one training path of every recipe and of the command line: `train` runs
`model.fit` and writes the run folder: `model.json` (the Keras config),
`model.weights.h5` (the best weights), `best.json`, `history.csv` /
`history.json`, `samples/epoch_NNN.png` and `resume/`. `load_run` reads it back."""

import dataclasses
import json
import pathlib
import shutil

import keras
import numpy as np

from keras_flows.training import batches, devices, precision, run_folder
from keras_flows.training.callbacks import (
    CtrlCStops,
    EpochCallback,
    EpochTimer,
    KeepBestWeights,
    ResumeState,
)


@dataclasses.dataclass
class TrainResult:
    """What `train` returns: the `History`, the callbacks and the precision."""

    history: keras.callbacks.History
    guard: KeepBestWeights
    timer: EpochTimer
    precision: str = "float32"
    resume_state: ResumeState = None

    @property
    def best_epoch(self):
        """1-based epoch of the best monitored loss, or `None`."""
        return None if self.guard.best_epoch is None else self.guard.best_epoch + 1

    @property
    def epochs_run(self):
        """Every epoch of the run, those of earlier sessions included."""
        if self.resume_state is not None:
            return len(self.resume_state.history)
        return len(self.history.history.get("loss", []))

    def summary(self):
        """The run's facts every recipe reports in `metrics.json`."""
        return dict(
            epochs_run=self.epochs_run,
            best_epoch=self.best_epoch,
            precision=self.precision,
            seconds_per_epoch=self.timer.steady_seconds_per_epoch,
            diverged=self.guard.diverged,
            divergence_events=[list(event) for event in self.guard.events],
        )


def train(
    model,
    x,
    out,
    epochs,
    y=None,
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
    """Fits a compiled `FlowModel` on `x` into the run folder `out` (only the
    chief worker writes it); returns a `TrainResult`, the model its best weights.

    Args:
        model: a compiled `FlowModel`.
        x: training data (array, `tf.data.Dataset`, `keras.utils.PyDataset`).
        out: the run folder (created).
        epochs: the total number of epochs (also when resuming).
        y: integer labels of a class-conditional model (then `validation_data=(x, y)`).
        batch_size, validation_data, validation_split, shuffle: as `fit`; the
            best weights are chosen on `val_loss` when validated, else `loss`.
        picture: `fn(model, path)` drawing `samples/epoch_NNN.png` each epoch.
        patience: stop after this many epochs without a better monitored loss.
        resume: continue from `out/resume/` (a `ValueError` if it is empty).
        callbacks: more Keras callbacks.
        verbose: `fit` verbosity.
        **guard_options: `KeepBestWeights` options (`on_divergence`, ...).
    """
    with run_folder.for_this_worker(out, devices.is_chief(), resume) as out:
        replicas = batches.replicas_of(model)
        if replicas > 1 and validation_split and isinstance(x, np.ndarray):
            # Split as `fit` does, so that both parts can be evened out below.
            split_at = int(len(x) * (1.0 - validation_split))
            x, validation_data, validation_split = x[:split_at], x[split_at:], 0.0
        x = batches.even_batches(x, batch_size, replicas)
        x = batches.even_dataset(x, replicas)
        y = None if y is None else y[: len(x)]
        # `fit` evaluates arrays in batches of `batch_size`, 32 without one.
        validation_data = batches.even_batches(
            validation_data, batch_size or 32, replicas, "validation_data"
        )
        if resume and run_folder.read_state(out / "resume") is None:
            raise ValueError(
                f"{out} has nothing to resume: its run stopped before the end of "
                "its first epoch"
            )
        for leftover in [*out.glob(".tmp_*"), *out.glob("resume/.tmp_*")]:
            leftover.unlink()  # half-written by a killed run: never committed
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
        timer, resume_state = EpochTimer(), ResumeState(out, restore=resume)
        # The guard first: its verdict at an epoch's end comes before the resume
        # state is saved; it copies the weights after the resume state restored them.
        write_best = EpochCallback(lambda model, epoch: _write_best(out, guard))
        all_callbacks = [guard, write_best, resume_state, timer]
        if picture is not None:
            (out / "samples").mkdir(exist_ok=True)
            draw = lambda m, e: picture(m, out / f"samples/epoch_{e + 1:03d}.png")
            all_callbacks.append(EpochCallback(draw))
        if patience:
            all_callbacks += [keras.callbacks.EarlyStopping(monitor, patience=patience)]
        with CtrlCStops().installed() as ctrl_c:
            history = model.fit(
                x,
                y,
                batch_size=batch_size,
                epochs=epochs,
                validation_data=validation_data,
                validation_split=validation_split,
                shuffle=shuffle,
                callbacks=[*all_callbacks, *callbacks, ctrl_c],
                verbose=verbose,
            )
            ctrl_c.check()  # pressed in the last batch, and swallowed there
        return TrainResult(
            history, guard, timer, precision.precision_of(model), resume_state
        )


def _write_best(out, guard):
    if guard.best_epoch is not None:
        best = {"epoch": guard.best_epoch + 1, "loss": guard.best}
        run_folder.write_json(out / "best.json", best)


def save_model_config(model, out):
    """Writes `out/model.json`, the model's Keras config (no weights)."""
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)  # rebuilt models are for inference
    run_folder.write_json(pathlib.Path(out) / "model.json", config, indent=1)


def load_run(out):
    """Rebuilds the model of the run folder `out` with its best weights, in
    float32 whatever it trained in."""
    out = pathlib.Path(out)
    config_path, weights_path = out / "model.json", out / "model.weights.h5"
    if not out.is_dir():
        raise FileNotFoundError(f"No run folder at {out}.")
    if not config_path.exists():
        raise FileNotFoundError(f"{out} is not a keras_flows run folder: no model.json")
    if not weights_path.exists():
        raise FileNotFoundError(
            f"The run in {out} has no saved weights yet (model.weights.h5 is "
            "written at the end of the first epoch)."
        )
    import keras_flows.models  # noqa: F401  (registers the classes to rebuild)

    model = precision.float32_model(json.loads(config_path.read_text()))
    model.weights_model.load_weights(str(weights_path))
    return model
