"""Training several models for the same time on a shared machine: each trains in
turns of a few seconds (`take_turns`), so all of them see the same background
load, and is evaluated after every turn (evaluation outside the budget)."""

import math
import sys
import time


class Contestant:
    """A model trained in turns.

    Args:
        name: its label in tables.
        lr: its learning rate (for the tables).
        step: `step(batch) -> loss`, one training step.
        bits_per_dim: `bits_per_dim(x, **options) -> float`, held-out.
        model: the model itself, for whatever comes after training.
    """

    def __init__(self, name, lr, step, bits_per_dim, model=None):
        self.name, self.lr, self.model = name, lr, model
        self._step, self._bits_per_dim = step, bits_per_dim
        self.seconds, self.steps, self.diverged_at = 0.0, 0, None
        self.curve = []  # (training seconds, steps, held-out bits/dim)

    def train_for(self, seconds, batches):
        """Steps until `seconds` have passed or the loss is NaN/inf (then it
        stops for good: `diverged_at` is that step)."""
        start = time.perf_counter()
        while time.perf_counter() - start < seconds and self.diverged_at is None:
            loss = float(self._step(next(batches)))
            self.steps += 1
            if not math.isfinite(loss):
                self.diverged_at = self.steps
        self.seconds += time.perf_counter() - start

    def bits_per_dim(self, x, **options):
        """Held-out bits/dim, NaN once diverged."""
        return math.nan if self.diverged_at else float(self._bits_per_dim(x, **options))


def batches_of(x, batch, seed):
    """Endless shuffled batches (a new order every epoch)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(x))
        for i in range(0, len(order) - batch + 1, batch):
            yield x[order[i : i + batch]]


def take_turns(contestants, x_train, x_eval, batch, budget, chunk):
    """Trains every contestant for `budget` seconds in turns of `chunk`
    seconds (the order reversed every round), each on its own stream of
    shuffled batches (the same order for all), evaluating after each turn."""
    streams = [batches_of(x_train, batch, seed=1) for _ in contestants]
    rounds = math.ceil(budget / chunk)
    for r in range(rounds):
        order = list(zip(contestants, streams))
        for c, stream in order if r % 2 == 0 else order[::-1]:
            c.train_for(min(chunk, budget - c.seconds), stream)
            bpd = c.bits_per_dim(x_eval)
            c.curve.append((round(c.seconds, 1), c.steps, round(bpd, 4)))
            print(
                f"round {r + 1}/{rounds}: {c.name:16s} lr={c.lr:<7g} "
                f"{c.seconds:6.0f} s {c.steps:6d} steps  held-out {bpd:.3f} bits/dim",
                file=sys.stderr,
                flush=True,
            )
