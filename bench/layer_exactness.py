"""Largest round-trip and log-det errors of every invertible layer, per backend.

Runs the cases of the parametrized layer suite (tests/test_layers.py) with random
weights over several seeds, batch 8, float32, each backend in its own process, and
reports for each layer:

- round trip: max |inverse(forward(x)) - x|,
- log-det: max |log_det - log|det J|| with J the autodiff Jacobian (float64 slogdet),
- fwd+inv: max |log_det_forward + log_det_inverse|.

    python bench/layer_exactness.py                 # tensorflow and jax
    python bench/layer_exactness.py --seeds 1       # smoke run
"""

import sys

from harness import HERE, Record, arguments, per_backend, print_table


def measure_all(seeds, batch=8, jacobian_samples=2):
    """`{layer: {round_trip, log_det, inverse}}` on the current backend."""
    import numpy as np

    sys.path.insert(0, str(HERE.parent / "tests"))
    from conftest import jacobian, randomize, to_numpy
    from test_layers import CASES, _as_list, _data_inputs, _flat_map, _inverse_inputs

    rows = {}
    for case in CASES:
        round_trip = log_det_err = inverse_err = 0.0
        for seed in range(seeds):
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
            inverse = np.abs(log_det + to_numpy(inverse_log_det)).max()
            inverse_err = max(inverse_err, float(inverse))
            for i in range(jacobian_samples):
                jac = jacobian(*_flat_map(layer, x, i)).astype("float64")
                error = abs(float(log_det[i]) - np.linalg.slogdet(jac)[1])
                log_det_err = max(log_det_err, error)
        rows[case.id] = dict(round_trip=round_trip, log_det=log_det_err)
        rows[case.id]["inverse"] = inverse_err
    return rows


def main():
    parser = arguments(__doc__)
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    record = Record("layer_exactness", {"seeds": args.seeds, "batch": 8})
    results = per_backend(measure_all, args.backends.split(","), seeds=args.seeds)
    rows = [
        {"backend": backend, "layer": layer, **errors}
        for backend, layers in results.items()
        for layer, errors in layers.items()
    ]
    print_table(rows, {"backend": "", "layer": "", "round_trip": ".2e",
                       "log_det": ".2e", "inverse": ".2e"})  # fmt: skip
    record.write(results)


if __name__ == "__main__":
    main()
