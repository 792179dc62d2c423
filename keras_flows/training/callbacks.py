"""The learning-rate warm-up and the callbacks of every training run."""

import contextlib
import math
import pathlib
import signal
import threading
import time

import keras
import numpy as np

from keras_flows.checks import reject
from keras_flows.keras_internals import learning_rate_schedule, start_at_epoch
from keras_flows.serialization import register
from keras_flows.training import run_folder


@register
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """A linear ramp to `rate` over `warmup_steps` steps, as in Glow's code:
    `rate * min(1, (step + 1) / warmup_steps)`; with `decay_steps`, then a
    cosine from `rate` to 0 that reaches 0 at step `decay_steps` (counted from
    the start) and stays there.

    Example:

    >>> optimizer = keras.optimizers.Adam(LinearWarmup(1e-3, warmup_steps=100))
    """

    def __init__(self, rate, warmup_steps, decay_steps=None):
        reject(not warmup_steps >= 1, self, "warmup_steps >= 1", warmup_steps)
        bad = decay_steps is not None and not decay_steps > warmup_steps
        steps = f"decay_steps={decay_steps}, warmup_steps={warmup_steps}"
        reject(bad, self, "decay_steps > warmup_steps", steps)
        self.rate, self.warmup_steps = float(rate), int(warmup_steps)
        self.decay_steps = None if decay_steps is None else int(decay_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32") + 1.0
        rate = self.rate * keras.ops.minimum(1.0, step / self.warmup_steps)
        if self.decay_steps is None:
            return rate
        done = (step - self.warmup_steps) / (self.decay_steps - self.warmup_steps)
        done = keras.ops.clip(done, 0.0, 1.0)
        return rate * 0.5 * (1.0 + keras.ops.cos(math.pi * done))

    def scaled(self, factor):
        """The same schedule, scaled to `rate * factor`."""
        return LinearWarmup(self.rate * factor, self.warmup_steps, self.decay_steps)

    def get_config(self):
        return {k: getattr(self, k) for k in ("rate", "warmup_steps", "decay_steps")}


def rate_schedule(rate, warmup_steps=None, decay_steps=None):
    """`rate`; or a `LinearWarmup` to it over `warmup_steps` steps and, with
    `decay_steps`, a cosine to 0 at that step."""
    if not (warmup_steps or decay_steps):
        return rate
    return LinearWarmup(rate, warmup_steps or 1, decay_steps)


class KeepBestWeights(keras.callbacks.Callback):
    """Keeps the best weights (in memory and at `path`) and, unlike Keras'
    `TerminateOnNaN`, undoes a divergence: on a NaN/inf batch loss it restores
    them, zeroes non-finite optimizer state, then stops or lowers the rate.

    Args:
        monitor: the epoch log to minimise (`"loss"` when it is missing).
        path: where to save the best weights (no optimizer state), or `None`.
        on_divergence: `"stop"`, or `"reduce_lr"` (Glow's divergence guard: the
            rate times `lr_factor`, also when after `warmup_epochs` an epoch's
            training loss exceeds the best one by more than `max_jump`).
    """

    def __init__(
        self,
        monitor="val_loss",
        path=None,
        on_divergence="stop",
        lr_factor=0.1,
        max_jump=math.inf,
        warmup_epochs=0,
    ):
        super().__init__()
        bad = on_divergence not in ("stop", "reduce_lr")
        received = f"on_divergence={on_divergence!r}"
        reject(bad, self, "on_divergence 'stop' or 'reduce_lr'", received)
        self.monitor, self.path, self.on_divergence = monitor, path, on_divergence
        self.lr_factor, self.max_jump = lr_factor, max_jump
        self.warmup_epochs = warmup_epochs
        self.best = self.best_loss = math.inf  # best_loss: for the jump rule
        self.best_epoch = self.best_weights = None
        self.diverged, self.events = False, []  # events: (epoch, why, action)

    def on_train_begin(self, logs=None):
        schedule = learning_rate_schedule(self.model.optimizer)
        if (
            self.on_divergence == "reduce_lr"
            and isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
            and not isinstance(schedule, LinearWarmup)
        ):
            raise ValueError(
                "on_divergence='reduce_lr' needs a float learning rate or a "
                f"`LinearWarmup`. Received: {type(schedule).__name__}"
            )
        self.best_weights = None  # taken when the first epoch begins, after
        self._epoch = 0  # every callback's start (a resumed state is loaded)
        self._best_is_in_memory = False  # or in `path`, from an earlier session

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.best_weights is None:
            self.best_weights = self.model.get_weights()

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._diverge(f"loss became {float(loss)} at batch {batch}")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = float(logs.get(self.monitor, logs.get("loss", math.nan)))
        if not math.isfinite(value):
            return
        if value < self.best:
            self.best, self.best_epoch = value, epoch
            self.best_weights = self.model.get_weights()
            self._best_is_in_memory = True
            if self.path is not None:
                run_folder.save_weights(self.model.weights_model, self.path)
        # The jump rule reads the training loss: a validation loss also moves
        # with the model's fit to the held-out set.
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
        optimizer = self.model.optimizer
        schedule = learning_rate_schedule(optimizer)
        if isinstance(schedule, LinearWarmup):
            optimizer.learning_rate = schedule.scaled(self.lr_factor)
            self.model.make_train_function(force=True)  # it holds the old schedule
            return schedule.rate * self.lr_factor
        optimizer.learning_rate = rate = float(optimizer.learning_rate) * self.lr_factor
        return rate

    def on_train_end(self, logs=None):
        on_disk = self.path is not None and pathlib.Path(self.path).exists()
        if not self._best_is_in_memory and self.best_epoch is not None and on_disk:
            # A resumed run whose best epoch is from an earlier session.
            self.model.weights_model.load_weights(str(self.path))
        elif self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class EpochCallback(keras.callbacks.LambdaCallback):
    """Calls `fn(model, epoch)` after every epoch (e.g. to write a sample grid)."""

    def __init__(self, fn):
        super().__init__(on_epoch_end=lambda epoch, logs: fn(self.model, epoch))


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
        """Median epoch time, without the first (compiling) one if others ran."""
        seconds = self.seconds[1:] or self.seconds
        return float(np.median(seconds)) if seconds else None


class ResumeState(keras.callbacks.Callback):
    """Saves at every epoch end the weights, optimizer state, epoch and history
    `train(..., resume=True)` needs (see `run_folder`); restores them on start.

    Args:
        out: the run folder; the state lives in `out/resume/`.
        restore: whether `on_train_begin` restores a saved state.
    """

    def __init__(self, out, restore):
        super().__init__()
        self.out, self.restore, self.history = pathlib.Path(out), restore, []
        self.dir = self.out / "resume"

    def on_train_begin(self, logs=None):
        state = run_folder.read_state(self.dir) if self.restore else None
        if state is None:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(state["weights"]))
        start_at_epoch(self.model, state["epoch"])
        self.history = state["history"][: state["epoch"]]

    def on_epoch_end(self, epoch, logs=None):
        row = {k: float(v) for k, v in (logs or {}).items()}
        self.history = [*self.history[:epoch], row]
        self.dir.mkdir(parents=True, exist_ok=True)
        weights = f"epoch_{epoch + 1:04d}.weights.h5"
        run_folder.save_weights(self.model, self.dir / weights)
        state = {"epoch": epoch + 1, "weights": weights, "history": self.history}
        run_folder.write_json(self.dir / run_folder.STATE, state)
        for old in self.dir.glob("*.weights.h5"):  # earlier epochs, leftovers
            if old.name != weights:
                old.unlink(missing_ok=True)
        run_folder.write_history(self.out, self.history)


class CtrlCStops(keras.callbacks.Callback):
    """Makes Ctrl-C stop `fit` every time it is pressed.

    Keras 3 swallows a Ctrl-C inside `pythonify_logs`' bare `except`, where the
    JAX trainer waits for most of a step; so while `installed()`, a Ctrl-C is
    also remembered, and the next batch, epoch or `check()` raises it again.
    """

    pressed = False

    @contextlib.contextmanager
    def installed(self):
        """Catches SIGINT in the block if Python's own handler has it."""
        ours = (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        )
        if ours:
            signal.signal(signal.SIGINT, self._pressed)
        try:
            yield self
        finally:
            if ours:
                signal.signal(signal.SIGINT, signal.default_int_handler)

    def _pressed(self, *_):
        self.pressed = True
        raise KeyboardInterrupt

    def check(self, *args, **kwargs):
        """Raises `KeyboardInterrupt` if Ctrl-C was pressed."""
        if self.pressed:
            raise KeyboardInterrupt

    on_epoch_begin = on_train_batch_begin = on_test_batch_begin = check
