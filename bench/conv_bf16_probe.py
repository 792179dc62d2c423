"""Does the backend use this CPU's bfloat16 units? One Glow-sized convolution's
gradient (a batch of 64 16x16x256 maps, a 3x3x256x256 kernel) timed in float32
and in bfloat16 on TensorFlow (oneDNN) and on JAX (XLA), each in its own
process ("Training in bfloat16" in docs/results.md).

    python bench/conv_bf16_probe.py
    python bench/conv_bf16_probe.py --name conv_bf16_probe_avx2   # another CPU
"""

from harness import Record, arguments, per_backend, print_table


def gradient_function(x, w):
    """A function that computes d sum(relu(conv(x, w))^2) / dw once."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        @tf.function
        def gradient():
            with tf.GradientTape() as tape:
                tape.watch(w)
                y = tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME"))
                loss = tf.reduce_sum(tf.cast(y, "float32") ** 2)
            return tape.gradient(loss, w)

        return lambda: gradient().numpy()
    import jax
    from keras import ops

    def loss(w):
        y = jax.nn.relu(ops.conv(x, w, padding="same"))
        return jax.numpy.sum(y.astype("float32") ** 2)

    gradient = jax.jit(jax.grad(loss))
    return lambda: gradient(w).block_until_ready()


def probe(repeats=10):
    import time

    import keras
    import numpy as np
    from keras import ops

    rows = []
    for dtype in ("float32", "bfloat16"):
        x = ops.convert_to_tensor(np.random.rand(64, 16, 16, 256), dtype)
        w = ops.convert_to_tensor(np.random.rand(3, 3, 256, 256) * 0.01, dtype)
        run = gradient_function(x, w)
        run()  # compile
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        seconds = (time.perf_counter() - start) / repeats
        rows.append(dict(backend=keras.backend.backend(), dtype=dtype, seconds=seconds))
    return rows


def main():
    parser = arguments(__doc__, name="conv_bf16_probe")
    shape = {"shape": "x (64,16,16,256), w (3,3,256,256)"}
    record = Record(parser.parse_args().name, shape)
    rows = [r for rs in per_backend(probe, ["tensorflow", "jax"]).values() for r in rs]
    print_table(rows, {"backend": "", "dtype": "", "seconds": ".3f"})
    record.write(rows)


if __name__ == "__main__":
    main()
