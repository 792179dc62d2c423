"""Glow training throughput on 1 and on 2 devices, per backend.

Each (backend, devices) runs in its own subprocess (virtual devices must be set up
before the backend starts): ``keras_flows.distribute.use_virtual_cpus(N)`` splits
the CPU into N devices, and the model is built, compiled and trained inside
``distribution_scope(N)`` (``tf.distribute.MirroredStrategy`` on TensorFlow,
``keras.distribution.DataParallel`` on JAX; one device = no distribution). The model
is a small Glow, 32x32x1, 3 levels x 4 steps, 64 hidden channels, additive coupling
and random permutations (the recipe's defaults otherwise), Adam(1e-4), global batch
32, on random images in [-1, 1]. One ``fit`` of ``--warmup + --steps`` steps; the
time from the end of step ``--warmup`` to the end of the last step gives images/s
(compilation and the first steps left out). ``--rounds`` rounds run every
configuration once each, in alternating order; the table gives the median round
(a shared machine drifts: the background load is recorded in the JSON). "cores
busy" is the process's CPU time over the wall time of the timed steps.

On a machine without accelerators the N "devices" are virtual: they share the same
cores. The table then shows that multi-device training runs and what its overhead
is (splitting each batch, an all-reduce of the gradients per step), not a speed-up;
on N GPUs each device brings its own compute.

Usage (prints a table, writes ``bench/glow_devices.json``)::

    python bench/glow_devices.py --backend tensorflow,jax --devices 1,2
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
CONFIG = dict(input_shape=(32, 32, 1), levels=3, depth=4, hidden_channels=64, seed=0)
BATCH_SIZE = 32


def _worker(args):
    """Runs in a fresh process for one backend and one device count."""
    from keras_flows import distribute

    distribute.use_virtual_cpus(args.devices)  # before the backend starts
    import keras
    import numpy as np

    from keras_flows.models import Glow

    steps = args.warmup + args.steps
    x = np.random.default_rng(0).uniform(-1, 1, (steps * BATCH_SIZE, 32, 32, 1))
    x = x.astype("float32")
    ends, cpu = [], []

    def tick(batch, logs):
        ends.append(time.perf_counter())
        cpu.append(time.process_time())  # CPU seconds of all this process's threads

    clock = keras.callbacks.LambdaCallback(on_train_batch_end=tick)
    keras.utils.set_random_seed(0)
    with distribute.distribution_scope(args.devices) as strategy:
        model = Glow(**CONFIG)
        model.compile(keras.optimizers.Adam(1e-4))
        model.fit(x, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0,
                  callbacks=[clock])  # fmt: skip
        if strategy is None:
            used = 1
        elif hasattr(strategy, "num_replicas_in_sync"):
            used = strategy.num_replicas_in_sync
        else:
            used = int(strategy.device_mesh.devices.size)
    seconds = ends[-1] - ends[args.warmup - 1]
    return {
        "backend": keras.backend.backend(),
        "devices": used,
        "images_per_second": args.steps * BATCH_SIZE / seconds,
        "seconds_per_step": seconds / args.steps,
        # Cores kept busy while timed: CPU seconds / wall seconds.
        "cores_busy": (cpu[-1] - cpu[args.warmup - 1]) / seconds,
        "parameters": model.count_params(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="tensorflow,jax")
    parser.add_argument("--devices", default="1,2")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.worker:
        args.devices = int(args.devices)
        print(json.dumps(_worker(args)))
        return
    configs = [
        (backend, devices)
        for backend in args.backend.split(",")
        for devices in args.devices.split(",")
    ]
    runs = {config: [] for config in configs}
    load_before = os.getloadavg()
    for round_ in range(args.rounds):
        for backend, devices in configs[:: 1 if round_ % 2 == 0 else -1]:
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
            command = [
                *(sys.executable, __file__, "--worker", "--devices", devices),
                *("--warmup", str(args.warmup), "--steps", str(args.steps)),
            ]
            result = subprocess.run(command, capture_output=True, text=True, env=env)
            if result.returncode:
                sys.exit(result.stderr[-3000:])
            runs[backend, devices].append(
                json.loads(result.stdout.strip().splitlines()[-1])
            )
    rows = []
    for config in configs:
        ordered = sorted(runs[config], key=lambda r: r["images_per_second"])
        row = dict(ordered[(len(ordered) - 1) // 2])  # the median (lower) round
        row["images_per_second_rounds"] = [r["images_per_second"] for r in runs[config]]
        rows.append(row)
    print(
        f"{'backend':<11} {'devices':>7} {'images/s':>9} {'s/step':>7} {'vs 1':>5} "
        f"{'cores busy':>10}"
    )
    for row in rows:
        one = next(
            r for r in rows if r["backend"] == row["backend"] and r["devices"] == 1
        )
        row["relative_to_one_device"] = (
            row["images_per_second"] / one["images_per_second"]
        )
        print(
            f"{row['backend']:<11} {row['devices']:>7} "
            f"{row['images_per_second']:>9.1f} {row['seconds_per_step']:>7.3f} "
            f"{row['relative_to_one_device']:>5.2f} {row['cores_busy']:>10.2f}"
        )
    record = {
        "command": " ".join(["python bench/glow_devices.py", *sys.argv[1:]]),
        "model": {**CONFIG, "coupling": "additive", "permutation": "random"},
        "batch_size": BATCH_SIZE,
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
        "rounds": args.rounds,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "devices": "virtual CPU devices sharing the same cores",
        },
        "rows": rows,
    }
    (HERE / "glow_devices.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
