"""Peak memory and step time of Glow training with and without gradient
checkpointing (`Glow(remat=True)`, Keras' `RematScope` on the coupling nets).

The seed script's model: 64x64x3, 3 levels x 10 steps, 512 hidden channels,
additive coupling, batch 16 (the seed trains with 64; 16 keeps a CPU run short).
Each configuration runs in a fresh subprocess: build, compile, one warm-up step
(tracing), then `--steps` timed steps. Peak memory is the process's maximum
resident set size (`ru_maxrss`) after the steps, minus the one after building
the model: what training adds on top of the weights.

    python bench/archive/glow_remat_memory.py            # TensorFlow
    KERAS_BACKEND=jax python bench/archive/glow_remat_memory.py

Prints a table and writes bench/results/glow_remat_memory_<backend>.json.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(remat, size, batch, steps):
    import keras
    import numpy as np

    from keras_flows.models import Glow

    model = Glow((size, size, 3), remat=remat, seed=0)
    model.compile(keras.optimizers.Adam(1e-4))
    built_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    x = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3))
    x = x.astype("float32")
    model.train_on_batch(x)  # traces and compiles
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x)
    seconds = (time.perf_counter() - start) / steps
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "remat": remat,
        "parameters": model.count_params(),
        "seconds_per_step": round(seconds, 2),
        "rss_after_build_mb": round(built_mb),
        "peak_rss_mb": round(peak_mb),
        "training_mb": round(peak_mb - built_mb),
        "loss": float(np.asarray(loss).reshape(-1)[0]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--child", choices=("on", "off"))
    args = parser.parse_args()
    if args.child:
        result = measure(args.child == "on", args.size, args.batch, args.steps)
        print(json.dumps(result))
        return
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    rows = []
    for remat in ("off", "on"):
        command = [sys.executable, __file__, "--child", remat, "--size",
                   str(args.size), "--batch", str(args.batch), "--steps",
                   str(args.steps)]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(output.stdout.strip().splitlines()[-1]))
    print(f"Glow {args.size}x{args.size}x3, L3 K10 512, batch {args.batch}, {backend}")
    print(f"{'remat':>6} {'s/step':>8} {'training MB':>12} {'peak MB':>8}")
    for row in rows:
        print(
            f"{str(row['remat']):>6} {row['seconds_per_step']:>8} "
            f"{row['training_mb']:>12} {row['peak_rss_mb']:>8}"
        )
    saved = 1 - rows[1]["training_mb"] / rows[0]["training_mb"]
    print(f"remat saves {saved:.0%} of the training memory")
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg": os.getloadavg(),
        },  # fmt: skip
        "backend": backend,
        "size": args.size,
        "batch": args.batch,
        "runs": rows,
        "training_memory_saved": round(saved, 3),
    }
    path = HERE.parent / "results" / f"glow_remat_memory_{backend}.json"
    path.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
