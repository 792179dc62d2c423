"""Where one NICE training step goes on JAX: the Dense matmuls vs the Adam update.

Times, each jitted and on the same batch of 128 digits-shaped vectors:

* ``dense``: forward + backward through the 24 Dense kernels of ``NICE()`` alone
  (4 couplings x [392 -> 1000 x 5 -> 392], ReLU between; gradients for the kernels
  and the input, as counted by `matmul_peak.py`), no noise, shuffle, split,
  concat or Scale: the matmul work every NICE (ours or the port) must do;
* ``adam``: one ``Adam.stateless_apply`` over all 19.2 M parameters;
* ``fit step``: a whole ``NICE().fit`` step, averaged over a 30-step epoch;

and the 1024^3 matmul peak (``bench/matmul_peak.py``), to turn them into a roofline.

    KERAS_BACKEND=jax python bench/archive/nice_step_profile.py
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from matmul_peak import measure_matmul_peak  # noqa: E402

from keras_flows.models import NICE  # noqa: E402

BATCH = 128
FLOPS_PER_SAMPLE = 114_816_000  # 4 x Dense chain, forward + backward (matmul_peak.py)


def _time_ms(fn, *args, calls=20):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times)), 1e3 * min(times)


def main():
    if keras.backend.backend() != "jax":
        raise SystemExit("run with KERAS_BACKEND=jax")
    model = NICE(seed=0)
    model.compile(keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(0)
    x = rng.random((BATCH * 30, 784), dtype=np.float32)
    model.fit(x[:BATCH], batch_size=BATCH, epochs=1, verbose=0)  # build + compile

    params = [v.value for v in model.trainable_variables]
    kernels = [p for p in params if p.ndim == 2 and p.shape[0] in (392, 1000)]
    if len(kernels) != 24:
        raise SystemExit(f"expected 24 Dense kernels, found {len(kernels)}")

    def dense_chain(kernels, x1):
        total, h = 0.0, x1
        for kernel in kernels:
            h = h @ kernel
            if h.shape[1] == 1000:
                h = jax.nn.relu(h)
            else:  # the end of one coupling's net: start the next from x1 again
                total, h = total + h.sum(), x1
        return total

    dense_grad = jax.jit(jax.grad(dense_chain, argnums=(0, 1)))
    dense_ms = _time_ms(dense_grad, kernels, jnp.asarray(x[:BATCH, :392]))
    optimizer = model.optimizer
    opt_vars = [v.value for v in optimizer.variables]
    grads = [jnp.full_like(p, 1e-3) for p in params]
    adam_ms = _time_ms(jax.jit(optimizer.stateless_apply), opt_vars, grads, params)

    start = time.perf_counter()
    model.fit(x, batch_size=BATCH, epochs=1, verbose=0)
    step_ms = 1e3 * (time.perf_counter() - start) / 30

    peak = measure_matmul_peak(n=1024, repeats=10)
    gflop = BATCH * FLOPS_PER_SAMPLE / 1e9
    at_peak_ms = 1e3 * gflop / peak
    print(f"matmul peak (1024^3): {peak:.1f} GFLOP/s; step matmuls: {gflop:.2f} GFLOP")
    print(f"{'part':<34}{'median ms':>10}{'min ms':>8}")
    for part, (median, best) in (
        ("24 Dense, forward + backward", dense_ms),
        ("Adam update, 19.2 M params", adam_ms),
    ):
        print(f"{part:<34}{median:>10.1f}{best:>8.1f}")
    print(f"{'NICE().fit step (30-step mean)':<34}{step_ms:>10.1f}")
    print(
        f"Dense efficiency: {100 * at_peak_ms / dense_ms[1]:.0f} % of peak; "
        f"fit step: {100 * at_peak_ms / step_ms:.1f} % of peak; bound with matmuls "
        f"at peak + fastest Adam: {100 * at_peak_ms / (at_peak_ms + adam_ms[1]):.0f} %"
    )


if __name__ == "__main__":
    main()
