"""RealNVP on two moons: keras_flows' `RealNVP` against the book's model, ported.

Same data (``make_moons(3000, noise=0.05, random_state=seed)``, standardised; the
book's ``Normalization`` gives the identical array), same seeds
(``keras.utils.set_random_seed(seed)`` before each model is built), same run (Adam
1e-4, batch 256, ``validation_split=0.2``, 300 epochs). Reported per run:

* ``fit_seconds``: wall time of the whole ``fit`` call (tracing/compilation
  included: what a user waits for), ``first_epoch_s`` and the median
  ``s_per_epoch`` of the other epochs;
* ``test_nll``: held-out NLL in nats per point on 2,000 fresh points (seed
  ``seed + 1``, standardised with the training statistics), with the weights at
  the end of training (no best-epoch restore: the book has none);
* the last epoch's ``loss`` / ``val_loss``.

Runs: ``book`` (bench/ports/realnvp_book.py: TF + TFP + GradientTape), ``ours_tf``
(default ``compile``, which on a CPU-only TF means no XLA), ``ours_tf_xla``
(``jit_compile=True``), ``ours_jax`` (KERAS_BACKEND=jax). Then ``budget``: the best
NLL our model reaches within the book's measured ``fit_seconds`` on the fastest of
our backends, with Adam 1e-3 and a cosine decay to 0, stopping when the budget is
spent, restoring the best ``val_loss`` weights. Every run is a fresh subprocess
(clean TF/JAX state, backend chosen per run).

    python bench/moons_vs_book.py                  # full: 300 epochs, ~15-20 min
    python bench/moons_vs_book.py --epochs 5       # smoke

Prints a table and writes ``bench/moons_vs_book.json``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BATCH_SIZE = 256
LEARNING_RATE = 1e-4


def _time_budget(seconds):
    """A callback that stops training before an epoch would overrun `seconds`
    (counted from the start of `fit`, the last epoch's duration as the guess)."""
    import keras

    stamps = []

    def on_epoch_end(epoch, logs):
        stamps.append(time.perf_counter())
        if stamps[-1] - stamps[0] + (stamps[-1] - stamps[-2]) > seconds:
            callback.model.stop_training = True

    callback = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: stamps.append(time.perf_counter()),
        on_epoch_end=on_epoch_end,
    )
    return callback


def _child(args):
    """One training run in this process; prints its result as one JSON line."""
    import keras
    import numpy as np

    from keras_flows.models import RealNVP
    from keras_flows.recipes.realnvp import held_out_points, load_moons
    from keras_flows.training import KeepBestWeights

    x, stats = load_moons(3000, 0.05, seed=args.seed)
    x_test = held_out_points(stats, args.seed)
    keras.utils.set_random_seed(args.seed)
    callbacks, epochs, learning_rate = [], args.epochs, LEARNING_RATE
    stamps = []
    callbacks.append(
        keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: stamps.append(time.perf_counter())
        )
    )
    if args.run == "book":
        sys.path.insert(0, str(HERE / "ports"))
        from realnvp_book import book_nll, build_book_realnvp, load_book_moons

        x_book = load_book_moons(3000, seed=args.seed)
        if not np.allclose(x_book, x, atol=1e-5):
            raise RuntimeError("the book's standardised moons differ from ours")
        model = build_book_realnvp()
    else:
        model = RealNVP()
        compile_kwargs = {}
        if args.run == "ours_tf_xla":
            compile_kwargs["jit_compile"] = True
        if args.run == "budget":
            learning_rate = args.budget_lr
            steps = args.budget_epochs * int(np.ceil(0.8 * len(x) / BATCH_SIZE))
            schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
            optimizer = keras.optimizers.Adam(schedule)
            epochs = args.budget_epochs
            keep = KeepBestWeights()
            callbacks += [keep, _time_budget(args.budget_seconds)]
        else:
            optimizer = keras.optimizers.Adam(LEARNING_RATE)
        model.compile(optimizer, **compile_kwargs)

    start = time.perf_counter()
    history = model.fit(
        x,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_split=0.2,
        callbacks=callbacks,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - start
    if args.run == "book":
        test_nll = book_nll(model, x_test)
    else:
        test_nll = model.nll(x_test)
    times = np.diff([start, *stamps])
    logs = history.history
    result = {
        "run": args.run,
        "backend": keras.backend.backend(),
        "learning_rate": learning_rate,
        "epochs": len(logs["loss"]),
        "fit_seconds": round(fit_seconds, 2),
        "first_epoch_s": round(float(times[0]), 2),
        "s_per_epoch": round(float(np.median(times[1:])), 4)
        if len(times) > 1
        else None,
        "loss": round(float(logs["loss"][-1]), 4),
        "val_loss": round(float(logs["val_loss"][-1]), 4),
        "test_nll": round(float(test_nll), 4),
        "params": int(model.count_params()),
        "load_avg_1min_end": round(os.getloadavg()[0], 2),
    }
    print("RESULT " + json.dumps(result), flush=True)


def _run(name, backend, args, **extra):
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        "--epochs",
        str(args.epochs),
        "--seed",
        str(args.seed),
    ]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    print(f"... {name} on {backend}", flush=True)
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            print(f"    {result}", flush=True)
            return result
    raise RuntimeError(
        f"run {name} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-jax", action="store_true", help="skip the JAX runs")
    parser.add_argument("--no-xla", action="store_true", help="skip ours_tf_xla")
    parser.add_argument("--no-budget", action="store_true")
    parser.add_argument("--budget-lr", type=float, default=1e-3)
    parser.add_argument(
        "--budget-epochs",
        type=int,
        default=None,
        help="epochs planned by the cosine schedule (default: what fits the budget)",
    )
    parser.add_argument("--json", default=str(HERE / "moons_vs_book.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--budget-seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.run = args.child
        return _child(args)

    rows = [_run("book", "tensorflow", args)]
    rows.append(_run("ours_tf", "tensorflow", args))
    if not args.no_xla:
        rows.append(_run("ours_tf_xla", "tensorflow", args))
    if not args.no_jax:
        rows.append(_run("ours_jax", "jax", args))
    book = rows[0]
    for row in rows:
        row["time_vs_book"] = round(row["fit_seconds"] / book["fit_seconds"], 3)
    if not args.no_budget:
        ours = [r for r in rows if r["run"] != "book"]
        fastest = min(ours, key=lambda r: r["fit_seconds"])
        per_epoch = fastest["s_per_epoch"] or fastest["fit_seconds"]
        budget_epochs = args.budget_epochs or int(
            (book["fit_seconds"] - fastest["first_epoch_s"]) / per_epoch
        )
        budget = _run(
            "budget",
            fastest["backend"],
            args,
            budget_seconds=book["fit_seconds"],
            budget_lr=args.budget_lr,
            budget_epochs=max(budget_epochs, 1),
        )
        budget["time_vs_book"] = round(budget["fit_seconds"] / book["fit_seconds"], 3)
        budget["note"] = (
            f"Adam {args.budget_lr:g} cosine-decayed over {budget_epochs} planned "
            "epochs, stopped at the book's fit time, best val_loss weights"
        )
        rows.append(budget)

    header = (
        f"{'run':12s} {'backend':10s} {'epochs':>6s} {'fit s':>8s} {'x book':>7s} "
        f"{'1st ep s':>8s} {'s/epoch':>8s} {'loss':>7s} {'val':>7s} {'test NLL':>8s}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['run']:12s} {r['backend']:10s} {r['epochs']:6d} "
            f"{r['fit_seconds']:8.1f} {r['time_vs_book']:7.2f} "
            f"{r['first_epoch_s']:8.1f} "
            f"{r['s_per_epoch'] or 0:8.3f} {r['loss']:7.3f} {r['val_loss']:7.3f} "
            f"{r['test_nll']:8.3f}"
        )
    result = {
        "command": "python bench/moons_vs_book.py " + " ".join(argv or sys.argv[1:]),
        "settings": {
            "data": "make_moons(3000, noise=0.05, random_state=seed), standardised",
            "test": "2000 fresh points, random_state=seed + 1, training stats",
            "optimizer": "Adam(1e-4)",
            "batch_size": BATCH_SIZE,
            "validation_split": 0.2,
            "epochs": args.epochs,
            "seed": args.seed,
            "model": "6 couplings, 2 x (4 x Dense(256, relu) -> Dense(2)), no L2",
        },
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "results": rows,
    }
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
