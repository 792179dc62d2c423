"""What every bench shares, written once (bench/README.md describes it): the
record a bench writes, the subprocess protocol, models trained in turns, the
tables. Bench modules import Keras inside their functions, never at the top, so
that a child process can load them before choosing a backend."""

import argparse
import importlib.metadata
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PREFIX = "BENCH_RESULT "
PACKAGES = ("keras", "tensorflow", "tensorflow-probability", "jax", "torch")
PACKAGES += ("normflows",)
BACKEND_SET_BY_USER = os.environ.get("KERAS_BACKEND")  # before a bench sets one
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def arguments(doc, quick=False, budget=False, name=None, backend=None):
    """A parser described by `doc`'s first paragraph, with `--quick`, `--budget`
    and `--name` (defaulting to `name`) when asked; `backend` is the default
    `KERAS_BACKEND`."""
    if backend:
        os.environ.setdefault("KERAS_BACKEND", backend)
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    if quick:
        parser.add_argument("--quick", action="store_true", help="tiny, a smoke run")
    if budget:
        parser.add_argument("--budget", type=float, help="training seconds per model")
    if name:
        parser.add_argument("--name", default=name, help="of the record")
    return parser


def machine():
    """Facts that change a timing: cores, CPU model and flags, versions."""
    facts = {"cpu_count": os.cpu_count(), "platform": platform.platform()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    first_cpu = cpuinfo.split("\n\n")[0].splitlines()
    fields = dict(line.split(":", 1) for line in first_cpu if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    facts["cpu_model"] = fields.get("model name", platform.processor())
    flags = set(fields.get("flags", "").split())
    facts["cpu_flags"] = sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
    facts["python"] = platform.python_version()
    for package in PACKAGES:
        try:
            facts[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return facts


class Record:
    """One run of a bench: its name, command, settings and the JSON it writes."""

    def __init__(self, name, settings):
        self.name, self.settings = name, settings
        script = os.path.relpath(sys.argv[0], HERE.parent)
        backend = BACKEND_SET_BY_USER
        prefix = f"KERAS_BACKEND={backend} " if backend else ""
        self.command = prefix + shlex.join(["python", script, *sys.argv[1:]])
        self.load_before = [round(v, 2) for v in os.getloadavg()]
        self.start = time.perf_counter()

    def write(self, results, quick=False):
        facts = machine()
        facts["load_average_before"] = self.load_before
        facts["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
        facts["wall_seconds"] = round(time.perf_counter() - self.start, 1)
        record = {
            "bench": self.name,
            "command": self.command,
            "machine": facts,
            "settings": self.settings,
            "results": results,
        }
        path = RESULTS / ("quick" if quick else "") / f"{self.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(path)
        print(f"wrote {os.path.relpath(path)}")


_CHILD = """
import importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location("bench_child", sys.argv[2])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
result = getattr(module, sys.argv[3])(**json.loads(sys.argv[4]))
print(sys.argv[5] + json.dumps(result), flush=True)
"""


def in_subprocess(fn, backend, **kwargs):
    """`fn(**kwargs)` in a fresh Python with `KERAS_BACKEND=backend`; `fn` must be
    a module-level function of a bench file and return something JSON can hold."""
    file = sys.modules[fn.__module__].__file__
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [str(HERE), file, fn.__name__, json.dumps(kwargs), PREFIX]
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], env=env, capture_output=True, text=True
    )
    for line in out.stdout.splitlines():
        if line.startswith(PREFIX):
            return json.loads(line[len(PREFIX) :])
    raise RuntimeError(f"{fn.__name__} on {backend} failed:\n{out.stderr[-4000:]}")


def per_backend(fn, backends, **kwargs):
    """`{backend: in_subprocess(fn, backend, **kwargs)}`, one backend after another."""
    return {backend: in_subprocess(fn, backend, **kwargs) for backend in backends}


def print_table(rows, columns):
    """Prints `rows` (dicts) under `columns`, `{key: format spec}` (e.g. ".3f")."""
    cells = [
        [
            format(row.get(k, ""), spec if k in row else "")
            for k, spec in columns.items()
        ]
        for row in rows
    ]
    widths = [
        max(len(str(k)), *(len(c[i]) for c in cells)) for i, k in enumerate(columns)
    ]
    print("  ".join(f"{k:>{w}}" for k, w in zip(columns, widths)))
    for line in cells:
        print("  ".join(f"{c:>{w}}" for c, w in zip(line, widths)))


class Contestant:
    """A model trained in turns: `step(batch) -> loss` is one training step,
    `bits_per_dim(x, **options) -> float` its held-out score; `model` is kept
    for whatever comes after training, `parameters` its count."""

    def __init__(self, name, lr, step, bits_per_dim, model=None, parameters=None):
        self.name, self.lr, self.model = name, lr, model
        if parameters is None and hasattr(model, "count_params"):
            parameters = model.count_params()
        self.parameters = parameters
        self._step, self._bits_per_dim = step, bits_per_dim
        self.seconds, self.steps, self.diverged_at = 0.0, 0, None
        self.curve = []  # (training seconds, steps, held-out bits/dim)
        self.turn_losses = []  # mean training loss of each turn, in its own units

    def train_for(self, seconds, batches):
        """Steps until `seconds` have passed or the loss is NaN/inf (then it
        stops for good: `diverged_at` is that step)."""
        start, losses = time.perf_counter(), []
        while time.perf_counter() - start < seconds and self.diverged_at is None:
            losses.append(float(self._step(next(batches))))
            self.steps += 1
            if not math.isfinite(losses[-1]):
                self.diverged_at = self.steps
        self.seconds += time.perf_counter() - start
        self.turn_losses.append(sum(losses) / max(len(losses), 1))

    def bits_per_dim(self, x, **options):
        """Held-out bits/dim, NaN once diverged."""
        return math.nan if self.diverged_at else float(self._bits_per_dim(x, **options))

    def held_out_blowup(self):
        """The steps at the first held-out score after a turn that is non-finite
        or more than 10x the best before it (the stability suite's factor, which
        it applies to the median of the batches before), or None: a model can
        explode on held-out images while every training loss stays finite."""
        best = math.inf
        for _, steps, score in self.curve:
            if steps and (not math.isfinite(score) or score > 10 * best):
                return steps
            best = min(best, score)
        return None

    def summary(self):
        """What a record keeps of a contestant: time, steps, the last and the best
        held-out score after a turn, the curve and each turn's training loss."""
        scores = [b for _, s, b in self.curve if s and math.isfinite(b)]
        return {
            "model": self.name,
            "learning_rate": self.lr,
            "parameters": self.parameters,
            "training_s": round(self.seconds, 1),
            "steps": self.steps,
            "s_per_step": round(self.seconds / max(self.steps, 1), 4),
            "diverged_at_step": self.diverged_at,
            "held_out_blowup_at_step": self.held_out_blowup(),
            "held_out": self.curve[-1][2],
            "best_held_out": min(scores, default=None),
            "curve_seconds_steps_score": self.curve,
            "training_loss_per_turn": [round(v, 2) for v in self.turn_losses],
        }


OPTIMIZERS = ("Adam", "Adamax")  # what the benches' `--optimizer` offers


def keras_optimizer(name, lr, warmup=0):
    """`keras.optimizers.<name>(lr)`, its rate raised linearly over the first
    `warmup` steps if any (`keras_flows.training.LinearWarmup`)."""
    import keras

    from keras_flows.training import LinearWarmup

    return getattr(keras.optimizers, name)(LinearWarmup(lr, warmup) if warmup else lr)


def glow_changes(text):
    """`{"key": value}` from `--set`'s `"key=value,..."`, each value a Python
    literal (`conv1x1_data_init=True,coupling_scale_bound=0.69`): arguments of
    the benches' Glow changed from theirs."""
    import ast

    pairs = [pair.split("=") for pair in filter(None, text.split(","))]
    return {key: ast.literal_eval(value) for key, value in pairs}


def bench_glow(shape, lr, levels, depth, hidden_channels, precision="float32",
               optimizer="Adam", **options):  # fmt: skip
    """The benches' Glow: `Glow(shape, levels, depth, hidden_channels,
    coupling="affine", permutation="conv1x1", actnorm_data_init=True, seed=0,
    **options)` built and compiled with `Adam(lr)` (or another
    `keras.optimizers` class named by `optimizer`) in `precision`
    (`keras_flows.training.precision`)."""

    from keras_flows.models import Glow
    from keras_flows.training.precision import policy_scope

    with policy_scope(precision):
        model = Glow(
            shape,
            levels=levels,
            depth=depth,
            hidden_channels=hidden_channels,
            coupling="affine",
            permutation="conv1x1",
            actnorm_data_init=True,
            seed=0,
            **options,
        )
        model.compile(keras_optimizer(optimizer, lr))
    return model


def glow_contestant(
    name, lr, first_batch, levels, depth, hidden_channels, precision="float32",
    **options,
):  # fmt: skip
    """A `Contestant` training `bench_glow` (with `options`) by `train_on_batch`
    in `precision`, Actnorm initialised on `first_batch` (what `Glow.fit` does)
    and the step traced once, outside any budget; scored in float32 by its
    exact mean bits/dim of already dequantised images."""
    from keras_flows.graph import initialize
    from keras_flows.training.precision import float32_copy

    model = bench_glow(
        first_batch.shape[1:], lr, levels, depth, hidden_channels, precision, **options
    )
    initialize(model.encoder, first_batch)
    model.train_on_batch(first_batch)

    def score(x):
        return mean_bits_per_dim(float32_copy(model))(x)

    return Contestant(name, lr, model.train_on_batch, score, model)


def normflows_glow(lr, shape, levels, depth, hidden, seed=0, coupling="affine",
                   permutation="conv1x1", data_init=True):  # fmt: skip
    """normflows' Glow (PyTorch) as its `examples/glow_colab.ipynb` builds it
    without classes, trained with `torch.optim.Adam(lr)`: per level `depth x
    nf.flows.GlowBlock(channels, hidden)` (coupling with normflows' default
    `sigmoid(h + 2)` scale, LU `Invertible1x1Conv`, `ActNorm` initialised from
    the first batch it sees) and `nf.flows.Squeeze()`, levels joined by
    `nf.flows.Merge()`, each factored-out part under an unconditional
    `nf.distributions.GlowBase`, all in `nf.MultiscaleFlow(..., class_cond=False)`,
    for images of `shape` (height, width, channels). `coupling="additive"` is
    `GlowBlock(scale=False)`, `permutation="random"` replaces each block's 1x1
    convolution by `nf.flows.Permute(mode="shuffle")`, `data_init=False` starts
    every ActNorm at the identity.

    normflows works on images in [0, 1]: it gets `y = (x + 1) / 2` of our
    [-1, 1] images `x` (NHWC), dequantised in training with `y + U[0, 1/256)`,
    i.e. `x + U[0, 2/256)`. Since `p_y(y) = 2^D p_x(x)`, `NLL_y = NLL_x - D log 2`
    and normflows' bits/dim `NLL_y / (D log 2) + 8` equals ours,
    `(NLL_x + D log 128) / (D log 2)`.

    Returns `(model, step, bits_per_image)`: `step(x)` trains on one batch and
    returns its loss in bits/dim; `bits_per_image(x)` scores already
    dequantised images.
    """
    import normflows as nf
    import numpy as np
    import torch

    torch.manual_seed(seed)
    h, w, c = shape
    dims = h * w * c
    q0, merges, flows = [], [], []
    for i in range(levels):  # level 0 is the deepest, as in normflows' example
        channels = c * 2 ** (levels + 1 - i)
        blocks = []
        for _ in range(depth):
            block = nf.flows.GlowBlock(channels, hidden, scale=coupling == "affine")
            if permutation == "random":
                block.flows[1] = nf.flows.Permute(channels, mode="shuffle")
            if not data_init:
                block.flows[2].data_dep_init_done = torch.tensor(1.0)
            blocks.append(block)
        flows.append([*blocks, nf.flows.Squeeze()])
        if i > 0:
            merges.append(nf.flows.Merge())
            f = 2 ** (levels - i)
            latent = (c * f, h // f, w // f)  # the half factored out at this level
        else:
            f = 2**levels
            latent = (c * 2 * f, h // f, w // f)  # what is left after the last
        q0.append(nf.distributions.GlowBase(latent))
    model = nf.MultiscaleFlow(q0, flows, merges, class_cond=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def to_unit(x, noise):  # NHWC in [-1, 1] -> NCHW in [0, 1]
        y = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        y = (y + 1) / 2
        return y + torch.rand_like(y) / 256 if noise else y

    def step(x):
        optimizer.zero_grad()
        loss = model.forward_kld(to_unit(x, noise=True))
        loss.backward()
        optimizer.step()
        return loss.item() / (dims * math.log(2)) + 8

    def bits_per_image(x):
        with torch.no_grad():
            log_p = [model.log_prob(to_unit(x[i : i + 250], False), None) for i in
                     range(0, len(x), 250)]  # fmt: skip
        return (-torch.cat(log_p) / (dims * math.log(2)) + 8).numpy()

    return model, step, bits_per_image


def mean_bits_per_dim(model):
    """`x -> mean bits/dim` of already dequantised images `x` (any option, such
    as an f-VAE's `num_samples`, passed on)."""
    return lambda x, **options: float(
        model.bits_per_dim(x, dequantize=False, **options).mean()
    )


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
    shuffled batches (the same order for all), evaluating before training and
    after each turn."""
    for c in contestants:
        c.curve.append((0.0, 0, round(c.bits_per_dim(x_eval), 4)))
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


def in_turns(runs, rounds):
    """`{name: [runs[name]() of each round]}`: every run once a round, the order
    reversed every other round, so that all of them see the same load."""
    results = {name: [] for name in runs}
    for r in range(rounds):
        for name in list(runs)[:: 1 if r % 2 == 0 else -1]:
            results[name].append(runs[name]())
    return results


def stand_in(n_train=None, n_eval=None):
    """`(x_train, x_eval)`: the MNIST stand-in's training images (32x32x1 in
    [-1, 1]) and its held-out ones dequantised once (seed 0), the first
    `n_train` and `n_eval`."""
    from keras_flows.data import load_mnist_images
    from keras_flows.models.base import dequantize_data

    x_train, x_val = load_mnist_images(size=32)
    return x_train[:n_train], dequantize_data(x_val[:n_eval], (-1, 1), 8, seed=0)[0]
