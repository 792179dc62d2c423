"""Planted bugs: a test of the tests.

Each plant breaks the library in one known way; the fast tier must fail on every
one of them. `python tests/plants.py` runs the fast tier once per plant (stopping
at the first failure, about 10 minutes for all) and prints which plants were
caught; it exits 1 if any plant survives. `python tests/plants.py sign_scale
iwae_off_by_log_k` runs only those.

A plant is applied inside the test session by `tests/conftest.py` when the
environment variable `KERAS_FLOWS_PLANT` names it.
"""

import os
import subprocess
import sys
import time

import numpy as np

# Layers whose log-det is not identically zero: flipping its sign is a bug.
VOLUME_CHANGING = ["Scale", "Actnorm", "InvConv1x1", "CondActnorm", "AffineCouple",
                   "MaskedCouple"]  # fmt: skip


def _flip_forward_log_det(name):
    def plant():
        from keras_flows import layers as L

        cls = getattr(L, name)
        forward = cls._forward

        def flipped(self, inputs):
            y, log_det = forward(self, inputs)
            return y, -log_det

        cls._forward = flipped

    return plant


def _decoder_skips(name):
    """The decoder leaves out the inverse of every `name` layer."""

    def plant():
        from keras_flows import layers as L
        from keras_flows.layers.base import zeros_per_sample

        cls, inverse = getattr(L, name), L.Inverse._forward

        def skipping(self, inputs):
            if type(self.layer) is not cls:
                return inverse(self, inputs)
            data = [x for i, x in enumerate(_as_list(inputs))
                    if i not in self.layer.condition_inputs]  # fmt: skip
            y = data[0] if len(data) == 1 else data
            return y, zeros_per_sample(data[0])

        L.Inverse._forward = skipping

    return plant


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _split_prior_ignores_temperature():
    """Multi-scale sampling draws the factored-out half of the flat latent (the
    first level's split prior) at temperature 1 whatever `temperature` is asked."""
    from keras_flows.checks import check_temperature
    from keras_flows.models import FlowModel

    def sample(self, num, temperature=1.0, seed=None):
        temperature = check_temperature(temperature)
        rng = np.random.default_rng(seed)
        zs = []
        for z in self.decoder.inputs:
            eps = rng.standard_normal((num, *z.shape[1:]))
            z = temperature * eps
            if z.ndim == 2 and self.image_shape is not None:  # Glow's flat z
                half = z.shape[1] // 2
                z[:, :half] = eps[:, :half]
            zs.append(z.astype("float32"))
        x = self.decode(zs[0] if len(zs) == 1 else zs)
        return x if self.data_range is None else np.clip(x, *self.data_range)

    FlowModel.sample = sample


def _iwae_off_by_log_k():
    """The importance-weighted bound sums the weights instead of averaging."""
    from keras_flows.models import FVAE

    log_prob = FVAE.log_prob

    def summed(self, x, num_samples=1, *args, **kwargs):
        return log_prob(self, x, num_samples, *args, **kwargs) + np.log(num_samples)

    FVAE.log_prob = summed


def _eight_bits_taken_as_given():
    """`Dequantize` and `dequantize_data` add noise to 8-bit data without
    snapping it to its level (commit 5c931c5): `k / 127.5 - 1` data keep gaps
    between their levels and the top value's noise leaves `data_range`."""
    import keras_flows.models.base as base
    from keras_flows.layers import noise

    quantize = noise.quantize

    def as_given(x, data_range, n_bits, **options):
        return x if n_bits == 8 else quantize(x, data_range, n_bits, **options)

    noise.quantize = base.quantize = as_given


PLANTS = {
    **{f"sign_{name.lower()}": _flip_forward_log_det(name) for name in VOLUME_CHANGING},
    **{f"decoder_skips_{name.lower()}": _decoder_skips(name)
       for name in ("Scale", "Actnorm", "InvConv1x1", "AffineCouple", "Squeeze")},
    "split_prior_ignores_temperature": _split_prior_ignores_temperature,
    "iwae_off_by_log_k": _iwae_off_by_log_k,
    "eight_bits_taken_as_given": _eight_bits_taken_as_given,
}  # fmt: skip


def apply(name):
    """Applies the plant `name` (called by `tests/conftest.py`)."""
    if name not in PLANTS:
        raise ValueError(f"Unknown plant {name!r}. Known: {', '.join(PLANTS)}")
    PLANTS[name]()


def main(names):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    names = names or list(PLANTS)
    missed = []
    for name in names:
        start = time.perf_counter()
        env = {**os.environ, "KERAS_FLOWS_PLANT": name}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:warnings"],
            cwd=root, env=env, capture_output=True, text=True,
        )  # fmt: skip
        lines = result.stdout.splitlines()
        failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        caught = result.returncode == 1 and failed
        if not caught:
            missed.append(name)
        verdict = f"caught by {failed[0].split()[1]}" if caught else "MISSED"
        if result.returncode not in (0, 1):
            verdict = f"MISSED (pytest exited {result.returncode})"
        print(f"{name:34s} {time.perf_counter() - start:5.0f} s  {verdict}", flush=True)
    print(f"{len(names) - len(missed)} of {len(names)} plants caught by the fast tier")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
