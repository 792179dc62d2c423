"""Achieved matmul throughput per backend, the yardstick for training-speed numbers.

`measure_matmul_peak` times one square `n x n` matmul through `keras.ops.matmul`,
compiled the way Keras compiles a train step (`jax.jit` on JAX,
`tf.function(jit_compile=True)` on TensorFlow), and returns the best of several
repeats in GFLOP/s (`2 * n**3` flops per matmul). A model's training flops
(`dense_training_flops_per_sample` times samples per second) over this number is
the fraction of the machine's practical peak its training loop reaches.

    python bench/matmul_peak.py                      # tensorflow and jax
    python bench/matmul_peak.py --backends jax --n 2048
"""

import itertools
import time

from harness import Record, arguments, per_backend, print_table


def dense_training_flops_per_sample(layer_sizes):
    """Training flops per sample of an MLP of `Dense` layers.

    One multiply-add counts as 2 flops. A `Dense(fan_out)` on a `fan_in`-vector
    costs `2 * fan_in * fan_out` flops forward and `4 * fan_in * fan_out` backward
    (the input and the kernel gradients), so `6 * fan_in * fan_out` per sample;
    biases, activations, the optimizer and the loss are left out. For the blog's
    NICE coupling net, `[392] + [1000] * 5 + [392]`: 28,704,000 (four nets).
    """
    pairs = itertools.pairwise(int(s) for s in layer_sizes)
    return sum(6 * fan_in * fan_out for fan_in, fan_out in pairs)


def measure_matmul_peak(n=1024, dtype="float32", repeats=20, warmup=3):
    """Best GFLOP/s of an `(n, n) @ (n, n)` `keras.ops.matmul` on this backend."""
    import keras
    import numpy as np

    fn, sync = keras.ops.matmul, keras.ops.convert_to_numpy
    if keras.backend.backend() == "jax":
        import jax

        fn, sync = jax.jit(keras.ops.matmul), lambda y: y.block_until_ready()
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        fn = tf.function(keras.ops.matmul, jit_compile=True)
    rng = np.random.default_rng(0)
    a, b = (keras.ops.convert_to_tensor(rng.standard_normal((n, n)), dtype=dtype)
            for _ in range(2))  # fmt: skip
    for _ in range(warmup):
        sync(fn(a, b))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        sync(fn(a, b))
        best = min(best, time.perf_counter() - start)
    return round(2.0 * n**3 / best / 1e9, 1)


def main():
    parser = arguments(__doc__)
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    settings = dict(n=args.n, dtype=args.dtype, repeats=args.repeats)
    record = Record("matmul_peak", settings)
    peaks = per_backend(measure_matmul_peak, args.backends.split(","), **settings)
    rows = [{"backend": b, "gflops": g} for b, g in peaks.items()]
    print_table(rows, {"backend": "", "gflops": ".1f"})
    record.write(rows)


if __name__ == "__main__":
    main()
