"""Largest round-trip and log-det errors of every invertible layer, per backend.

Runs the cases of the parametrized layer suite (tests/test_layers.py) with random
weights over several seeds, in float32, and reports for each layer:

- round trip: max |inverse(forward(x)) - x|,
- log-det: max |log_det - log|det J|| with J the autodiff Jacobian (float64 slogdet),
- inverse log-det: max |log_det_forward + log_det_inverse|.

    KERAS_BACKEND=tensorflow python bench/layer_exactness.py
    KERAS_BACKEND=jax python bench/layer_exactness.py
"""

import json
import pathlib
import sys

import keras
import numpy as np

TESTS = pathlib.Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from conftest import jacobian, randomize, to_numpy  # noqa: E402
from test_layers import (  # noqa: E402
    CASES,
    _as_list,
    _data_inputs,
    _flat_map,
    _inverse_inputs,
)


def measure(case, seeds=range(5), batch=8, jacobian_samples=2):
    round_trip = log_det_err = inverse_err = 0.0
    for seed in seeds:
        layer = case.make()
        x = case.inputs(batch=batch, seed=seed)
        layer(x)
        randomize(layer, seed=seed)
        y, log_det = layer.forward_and_log_det(x)
        x_back, inverse_log_det = layer.inverse().forward_and_log_det(
            _inverse_inputs(layer, x, y)
        )
        for a, b in zip(_data_inputs(layer, x), _as_list(x_back)):
            round_trip = max(round_trip, float(np.abs(to_numpy(b) - a).max()))
        log_det = to_numpy(log_det)
        inverse_err = max(
            inverse_err, float(np.abs(log_det + to_numpy(inverse_log_det)).max())
        )
        for i in range(jacobian_samples):
            jac = jacobian(*_flat_map(layer, x, i)).astype("float64")
            log_det_err = max(
                log_det_err, abs(float(log_det[i]) - np.linalg.slogdet(jac)[1])
            )
    return dict(round_trip=round_trip, log_det=log_det_err, inverse=inverse_err)


def main():
    backend = keras.backend.backend()
    rows = {case.id: measure(case) for case in CASES}
    print(f"backend: {backend}  (float32, random weights, 5 seeds x batch 8)")
    print(f"{'layer':<22}{'round trip':>12}{'log-det':>12}{'fwd+inv':>12}")
    for name, r in rows.items():
        print(
            f"{name:<22}{r['round_trip']:>12.2e}{r['log_det']:>12.2e}"
            f"{r['inverse']:>12.2e}"
        )
    out = pathlib.Path(__file__).with_name(f"layer_exactness_{backend}.json")
    command = f"KERAS_BACKEND={backend} python bench/layer_exactness.py"
    out.write_text(json.dumps({"command": command, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
