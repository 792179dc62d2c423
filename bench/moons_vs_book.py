"""RealNVP on two moons: keras_flows' `RealNVP` against the book's model, ported.

Same data (`make_moons(3000, noise=0.05, random_state=seed)`, standardised; the
book's `Normalization` gives the identical array), same seeds, same run (Adam
1e-4, batch 256, `validation_split=0.2`, 300 epochs), each run in its own process:
`book` (bench/ports/realnvp_book.py: TF + TFP + GradientTape), `ours_tf` (default
`compile`: no XLA on a CPU-only TF), `ours_tf_xla` (`jit_compile=True`),
`ours_jax`; then `budget`: ours on the fastest of our backends with Adam 1e-3
cosine-decayed to 0, stopped when the book's `fit_seconds` are spent, the best
`val_loss` weights restored. Reported per run: `fit_seconds` (the whole `fit`,
compilation included), `first_epoch_s`, the median `s_per_epoch` of the others,
the last `loss` / `val_loss`, and `test_nll`, nats per point on 2,000 fresh points
(seed + 1, standardised with the training statistics).

    python bench/moons_vs_book.py                  # 300 epochs, ~9 min idle
    python bench/moons_vs_book.py --epochs 5       # smoke
"""

import time

from harness import HERE, Record, arguments, in_subprocess, print_table

BATCH = 256


def train(run, epochs, seed, budget_seconds=None, budget_lr=None):
    """One run in this process: `run` is book, ours_tf, ours_tf_xla, ours_jax or
    budget. Returns its row."""
    import sys

    import keras
    import numpy as np

    from keras_flows.models import RealNVP
    from keras_flows.recipes.realnvp import held_out_points, load_moons
    from keras_flows.training import KeepBestWeights

    x, stats = load_moons(3000, 0.05, seed=seed)
    keras.utils.set_random_seed(seed)
    stamps = []
    callbacks = [
        keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: stamps.append(time.perf_counter())
        )
    ]
    lr = 1e-4
    if run == "book":
        sys.path.insert(0, str(HERE / "ports"))
        from realnvp_book import book_nll, build_book_realnvp, load_book_moons

        if not np.allclose(load_book_moons(3000, seed=seed), x, atol=1e-5):
            raise RuntimeError("the book's standardised moons differ from ours")
        model = build_book_realnvp()
    else:
        model, optimizer = RealNVP(), keras.optimizers.Adam(lr)
        if run == "budget":
            lr, steps = budget_lr, epochs * int(np.ceil(0.8 * len(x) / BATCH))
            optimizer = keras.optimizers.Adam(
                keras.optimizers.schedules.CosineDecay(lr, steps)
            )

            def stop_in_time(epoch, logs):  # before the next epoch would overrun
                if 2 * stamps[-1] - stamps[-2] - start > budget_seconds:
                    model.stop_training = True

            callbacks += [
                KeepBestWeights(),
                keras.callbacks.LambdaCallback(on_epoch_end=stop_in_time),
            ]
        model.compile(optimizer, jit_compile=True if run == "ours_tf_xla" else "auto")
    start = time.perf_counter()
    stamps.append(start)
    logs = model.fit(
        x,
        batch_size=BATCH,
        epochs=epochs,
        validation_split=0.2,
        callbacks=callbacks,
        verbose=0,
    ).history
    fit_seconds = time.perf_counter() - start
    x_test = held_out_points(stats, seed)
    test_nll = book_nll(model, x_test) if run == "book" else model.nll(x_test)
    times = np.diff(stamps)
    return {
        "run": run,
        "backend": keras.backend.backend(),
        "learning_rate": lr,
        "epochs": len(logs["loss"]),
        "fit_seconds": round(fit_seconds, 2),
        "first_epoch_s": round(float(times[0]), 2),
        "s_per_epoch": round(
            float(np.median(times[1:] if len(times) > 1 else times)), 4
        ),
        "loss": round(float(logs["loss"][-1]), 4),
        "val_loss": round(float(logs["val_loss"][-1]), 4),
        "test_nll": round(float(test_nll), 4),
        "params": int(model.count_params()),
    }


def main():
    parser = arguments(__doc__)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-jax", action="store_true", help="skip ours_jax")
    parser.add_argument("--no-xla", action="store_true", help="skip ours_tf_xla")
    parser.add_argument("--no-budget", action="store_true", help="skip budget")
    parser.add_argument("--budget-lr", type=float, default=1e-3)
    args = parser.parse_args()
    record = Record("moons_vs_book", vars(args) | {"batch": BATCH, "lr": 1e-4})
    runs = [("book", "tensorflow"), ("ours_tf", "tensorflow")]
    runs += [] if args.no_xla else [("ours_tf_xla", "tensorflow")]
    runs += [] if args.no_jax else [("ours_jax", "jax")]
    rows = [
        in_subprocess(train, backend, run=run, epochs=args.epochs, seed=args.seed)
        for run, backend in runs
    ]
    book = rows[0]
    if not args.no_budget:
        fastest = min(rows[1:], key=lambda r: r["fit_seconds"])
        left = book["fit_seconds"] - fastest["first_epoch_s"]
        epochs = max(int(left / fastest["s_per_epoch"]), 1)
        budget = dict(budget_seconds=book["fit_seconds"], budget_lr=args.budget_lr)
        row = in_subprocess(train, fastest["backend"], run="budget", epochs=epochs,
                            seed=args.seed, **budget)  # fmt: skip
        rows.append(row)
    for row in rows:
        row["time_vs_book"] = round(row["fit_seconds"] / book["fit_seconds"], 3)
    columns = dict(run="", backend="", epochs="d", fit_seconds=".1f")
    columns |= dict(time_vs_book=".2f", first_epoch_s=".1f", s_per_epoch=".3f")
    print_table(rows, columns | dict.fromkeys(["loss", "val_loss", "test_nll"], ".3f"))
    record.write(rows)


if __name__ == "__main__":
    main()
