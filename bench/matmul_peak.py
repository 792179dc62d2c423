"""Achieved matmul throughput per backend, the yardstick for training-speed numbers.

``measure_matmul_peak`` times one square ``n x n`` matmul through ``keras.ops.matmul``,
compiled the way Keras compiles a train step (``jax.jit`` on JAX,
``tf.function(jit_compile=True)`` on TensorFlow), and reports the best of several
repeats in GFLOP/s (``2 * n**3`` flops per matmul). Dividing a model's training flops
(``dense_training_flops_per_sample`` times samples per second) by this number gives the
fraction of the machine's practical peak the training loop reaches.

Usage (prints a table, writes ``bench/matmul_peak.json``)::

    python bench/matmul_peak.py                      # tensorflow and jax
    python bench/matmul_peak.py --backends jax --n 2048

Each backend other than the current one is measured in a subprocess with
``KERAS_BACKEND`` set, because Keras fixes its backend at import.
"""

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def dense_training_flops_per_sample(layer_sizes):
    """Training flops per sample of an MLP of `Dense` layers.

    Convention: one multiply-add counts as 2 flops. A `Dense(fan_out)` on a
    ``fan_in``-vector costs ``2 * fan_in * fan_out`` flops forward and
    ``4 * fan_in * fan_out`` backward (one matmul for the gradient with respect to the
    input, one for the gradient with respect to the kernel), so ``6 * fan_in * fan_out``
    per training sample. Biases, activations, the optimizer update and the loss are
    left out (they are O(fan_out), negligible next to the matmuls). The input gradient
    of the first layer is counted too, which is right whenever the MLP's input depends
    on trainable variables (true for every coupling net after the first step of a flow).

    Args:
        layer_sizes: widths ``[d_in, h_1, ..., d_out]``; a net of ``len - 1`` layers.
            For the blog's NICE coupling net: ``[392] + [1000] * 5 + [392]``.

    Returns:
        int, flops per training sample. Four such nets (NICE) cost four times this.

    Example:
    >>> dense_training_flops_per_sample([392] + [1000] * 5 + [392])
    28704000
    """
    sizes = [int(s) for s in layer_sizes]
    return sum(6 * fan_in * fan_out for fan_in, fan_out in itertools.pairwise(sizes))


def _compiled_matmul(backend):
    import keras

    if backend == "jax":
        import jax

        fn = jax.jit(keras.ops.matmul)
        return fn, lambda y: y.block_until_ready()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(keras.ops.matmul, jit_compile=True)
        # TF executes eagerly-called functions synchronously on CPU; `.numpy()` is a
        # cheap host view there, and the sync point on accelerators.
        return fn, lambda y: y.numpy()
    return keras.ops.matmul, keras.ops.convert_to_numpy


def _measure_here(n, dtype, repeats, warmup):
    import keras

    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((n, n)), dtype=dtype)
    b = keras.ops.convert_to_tensor(rng.standard_normal((n, n)), dtype=dtype)
    fn, sync = _compiled_matmul(backend)
    for _ in range(warmup):
        sync(fn(a, b))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        sync(fn(a, b))
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


def measure_matmul_peak(
    backend_name=None, n=1024, dtype="float32", repeats=20, warmup=3
):
    """Best achieved GFLOP/s of an ``(n, n) @ (n, n)`` matmul with `keras.ops`.

    Args:
        backend_name: ``"tensorflow"``, ``"jax"`` or None for the current Keras
            backend. Another backend is measured in a subprocess.
        n: matrix size; ``2 * n**3`` flops per matmul.
        dtype: element type, float32 by default.
        repeats: timed calls; the fastest one is reported (the least disturbed by
            other processes on a shared machine).
        warmup: untimed calls first (compilation, allocator, thread-pool start-up).

    Returns:
        float, GFLOP/s.
    """
    import keras

    current = keras.backend.backend()
    if backend_name is None or backend_name == current:
        return _measure_here(n, dtype, repeats, warmup)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import matmul_peak as m; "
        "print(m._measure_here(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), "
        "int(sys.argv[5])))"
    )
    env = {**os.environ, "KERAS_BACKEND": backend_name, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [str(Path(__file__).parent), str(n), dtype, str(repeats), str(warmup)]
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--json", default=str(Path(__file__).with_suffix(".json")), help="output path"
    )
    args = parser.parse_args(argv)

    rows = []
    for backend in args.backends.split(","):
        gflops = measure_matmul_peak(backend, args.n, args.dtype, args.repeats)
        rows.append({"backend": backend, "gflops": round(gflops, 1)})
    print(
        f"matmul n={args.n} {args.dtype} best of {args.repeats}: "
        + " | ".join(f"{r['backend']} {r['gflops']:.1f} GFLOP/s" for r in rows)
    )
    result = {
        "command": "python bench/matmul_peak.py " + " ".join(argv or sys.argv[1:]),
        "n": args.n,
        "dtype": args.dtype,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "results": rows,
    }
    tmp = Path(args.json + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.json)


if __name__ == "__main__":
    main()
