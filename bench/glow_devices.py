"""Glow training throughput on 1 and on 2 devices, per backend.

Each (backend, devices) runs in its own process (virtual devices must be set up
before the backend starts): `keras_flows.device_setup.use_virtual_cpus(N)` splits
the CPU into N devices, and the model is built, compiled and trained inside
`distribution_scope(N)` (`tf.distribute.MirroredStrategy` on TensorFlow,
`keras.distribution.DataParallel` on JAX; one device = no distribution). The model:
Glow 32x32x1, 3 levels x 4 steps, 64 hidden channels, additive coupling, random
permutations, Adam(1e-4), global batch 32, random images in [-1, 1]. One `fit` of
`--warmup + --steps` steps; images/s from the end of step `--warmup` to the end of
the last. `--rounds` rounds run every configuration once, in alternating order;
the table gives the median round. "cores busy" is the process's CPU time over the
wall time of the timed steps.

On a machine without accelerators the N devices share the same cores: the table
shows that multi-device training runs and what its overhead is, not a speed-up.

    python bench/glow_devices.py --backend tensorflow,jax --devices 1,2
    python bench/glow_devices.py --warmup 2 --steps 3 --rounds 1    # smoke
"""

import functools

from harness import Record, arguments, in_subprocess, in_turns, print_table

CONFIG = dict(input_shape=(32, 32, 1), levels=3, depth=4, hidden_channels=64, seed=0)
BATCH = 32


def throughput(devices, warmup, steps):
    """Images/s of one `fit` on `devices` devices of the current backend."""
    import time

    from keras_flows.training import devices as device_setup

    device_setup.use_virtual_cpus(devices)  # before the backend starts
    import keras
    import numpy as np

    from keras_flows.models import Glow

    x = np.random.default_rng(0).uniform(-1, 1, ((warmup + steps) * BATCH, 32, 32, 1))
    ends, cpu = [], []

    def tick(batch, logs):
        ends.append(time.perf_counter())
        cpu.append(time.process_time())  # CPU seconds of all this process's threads

    keras.utils.set_random_seed(0)
    with device_setup.distribution_scope(devices) as strategy:
        model = Glow(**CONFIG)
        model.compile(keras.optimizers.Adam(1e-4))
        clock = keras.callbacks.LambdaCallback(on_train_batch_end=tick)
        model.fit(
            x.astype("float32"),
            batch_size=BATCH,
            shuffle=False,
            verbose=0,
            callbacks=[clock],
        )
        if strategy is None:
            used = 1
        elif hasattr(strategy, "num_replicas_in_sync"):
            used = strategy.num_replicas_in_sync
        else:
            used = int(strategy.device_mesh.devices.size)
    seconds = ends[-1] - ends[warmup - 1]
    return {
        "backend": keras.backend.backend(),
        "devices": used,
        "images_per_second": steps * BATCH / seconds,
        "seconds_per_step": seconds / steps,
        "cores_busy": (cpu[-1] - cpu[warmup - 1]) / seconds,
        "parameters": model.count_params(),
    }


def main():
    parser = arguments(__doc__)
    parser.add_argument("--backend", default="tensorflow,jax")
    parser.add_argument("--devices", default="1,2")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    model = {**CONFIG, "coupling": "additive", "permutation": "random", "batch": BATCH}
    record = Record("glow_devices", {**vars(args), "model": model})
    configs = [
        (b, int(d)) for b in args.backend.split(",") for d in args.devices.split(",")
    ]
    run = functools.partial(in_subprocess, warmup=args.warmup, steps=args.steps)
    runs = {
        (b, d): functools.partial(run, throughput, b, devices=d) for b, d in configs
    }
    runs = in_turns(runs, args.rounds)
    rows = []
    for config in configs:
        ordered = sorted(runs[config], key=lambda r: r["images_per_second"])
        row = dict(ordered[(len(ordered) - 1) // 2])  # the median (lower) round
        row["images_per_second_rounds"] = [r["images_per_second"] for r in runs[config]]
        same = [r for r in [*rows, row] if r["backend"] == row["backend"]]
        one = next((r for r in same if r["devices"] == 1), row)
        rate = row["images_per_second"]
        row["relative_to_one_device"] = rate / one["images_per_second"]
        rows.append(row)
    columns = dict(backend="", devices="d", images_per_second=".1f")
    columns |= dict(seconds_per_step=".3f", relative_to_one_device=".2f")
    print_table(rows, columns | dict(cores_busy=".2f"))
    record.write(rows)


if __name__ == "__main__":
    main()
