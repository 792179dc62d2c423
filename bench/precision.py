"""float32 against bfloat16 training, per model and backend, at equal CPU time.

For each model, two copies with the same initial weights train in turns
(harness `take_turns`) for `--budget` seconds each: one in float32, one under
Keras' `mixed_bfloat16` policy (`keras_flows.training.precision`: bf16 compute,
float32 weights, log-dets and loss). After every turn both are scored in
float32 (`float32_copy`) on the same held-out data: exact bits/dim for the image
flows, the ELBO's bits/dim for f-VAE, the NLL in nats for the moons. The same
protocol runs under TensorFlow and JAX, each backend in its own process.

The models, their data, batch and learning rate: `_build` (docs/results.md,
"Training in bfloat16").

Usage (prints a table, writes `bench/results/precision.json`)::

    python bench/precision.py                        # about 50 min
    python bench/precision.py --models glow --backends tensorflow --budget 300
    python bench/precision.py --quick                # tiny sizes, a smoke run
"""

import harness

MODELS = ("glow", "fvae", "nice", "realnvp")
# Training seconds per contestant, and turn length, in a full run.
BUDGET = {"glow": 300.0, "fvae": 180.0, "nice": 90.0, "realnvp": 90.0}
PRECISIONS = ("float32", "bfloat16")


def _build(name, quick):
    """(model, x_train, x_eval, batch, lr, unit) for one bench model."""
    import keras

    from keras_flows.data import load_mnist, load_moons
    from keras_flows.models import FVAE, NICE, Glow, RealNVP
    from keras_flows.models.base import dequantize_data

    if name in ("glow", "fvae"):
        x_train, x_eval = harness.stand_in(n_eval=500)
        if name == "glow":
            model = Glow(
                (32, 32, 1),
                levels=3,
                depth=2 if quick else 8,
                hidden_channels=16 if quick else 256,
                coupling="affine",
                permutation="conv1x1",
                actnorm_data_init=True,
                seed=0,
            )
            return model, x_train, x_eval, 64, 1e-3, "bits/dim"
        model = FVAE(
            (32, 32, 1),
            encoder_levels=2,
            encoder_blocks=1 if quick else 12,
            flow_levels=4,
            flow_depth=1 if quick else 12,
            hidden_channels=16 if quick else 256,
            seed=0,
        )
        return model, x_train, x_eval, 32, 1e-3, "ELBO bits/dim"
    if name == "nice":
        x_train, x_test = load_mnist()
        x_eval = dequantize_data(x_test[:1000], (0.0, 1.0), 8, seed=0)[0]
        model = NICE(hidden_units=64 if quick else 1000, noise="dequantize", seed=0)
        return model, x_train, x_eval, 128, 1e-3, "bits/dim"
    x_train, stats = load_moons(3000, 0.05, seed=0)
    x_eval = stats.apply(load_moons(1000, 0.05, seed=1, standardize=False)[0])
    keras.utils.set_random_seed(0)
    model = RealNVP(coupling_dim=32 if quick else 256)
    return model, x_train, x_eval, 256, 1e-4, "NLL nats"


def run_model(name, budget, chunk, quick=False):
    """Trains `name` in float32 and bfloat16 in turns; runs in a child process."""
    import keras

    from keras_flows.graph import initialize
    from keras_flows.training.precision import float32_copy, policy_scope

    contestants = []
    for precision in PRECISIONS:
        keras.utils.set_random_seed(0)
        with policy_scope(precision):
            model, x_train, x_eval, batch, lr, unit = _build(name, quick)
            model.compile(keras.optimizers.Adam(lr))
        first = x_train[:batch]
        if model.needs_initialization:
            initialize(model.encoder, first)
        model.train_on_batch(first)  # traces the step, outside the budget

        def score(x, model=model):
            exact = float32_copy(model)
            if exact.data_range is None:
                return float(-exact.log_prob(x).mean())
            return float(exact.bits_per_dim(x, dequantize=False).mean())

        step = model.train_on_batch
        contestants.append(harness.Contestant(precision, lr, step, score, model))
    harness.take_turns(contestants, x_train, x_eval, batch, budget, chunk)
    facts = dict(model=name, backend=keras.backend.backend(), unit=unit)
    return [
        c.summary()
        | facts
        | dict(precision=c.name, steps_per_s=round(c.steps / c.seconds, 3))
        for c in contestants
    ]


def main():
    parser = harness.arguments(__doc__, quick=True, budget=True, name="precision")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--backends", default="tensorflow,jax")
    args = parser.parse_args()
    models, backends = args.models.split(","), args.backends.split(",")
    unknown = set(models) - set(MODELS)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {MODELS}")
    settings = {"models": models, "backends": backends, "budget": {}}
    record = harness.Record(args.name, settings)
    rows = []
    for name in models:
        budget = args.budget or (6.0 if args.quick else BUDGET[name])
        chunk = budget / (2 if args.quick else 5)
        settings["budget"][name] = budget
        results = harness.per_backend(
            run_model, backends, name=name, budget=budget, chunk=chunk, quick=args.quick
        )
        for result in results.values():
            rows.extend(result)
    columns = {"model": "", "backend": "", "precision": "", "steps": "d"}
    columns.update(steps_per_s=".2f", held_out=".3f", unit="")
    harness.print_table(rows, columns)
    record.write(rows, quick=args.quick)


if __name__ == "__main__":
    main()
