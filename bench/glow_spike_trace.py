"""Where a spike in a stability run comes from: one run of
`glow_stability.py`'s core matrix (its model, data, seed and plain `fit`),
trained for `--steps` batches with the weights before every batch kept, then
the worst batch taken apart.

For the worst batch (the largest ratio to the median of the batches before
it): the held-out bits/dim of 256 digits with the weights before the batch
before it, before it and after it (a rise for every image means the update
before it was bad, not the batch), and that update applied to a part of the
weights only, the rest as before it: each layer alone (the worst of them),
the coupling nets' hidden convolutions, last convolutions and output factors,
all nets, Actnorms, priors, each level. Runs in this process's backend
(`KERAS_BACKEND`, default TensorFlow).

    KERAS_BACKEND=jax python bench/glow_spike_trace.py --set permutation=random \\
        --seed 1 --steps 30                                    # ~2 min
"""

import math

from harness import Record, arguments, print_table

PARTS = {
    "nets' hidden convolutions": lambda p: "_net_0/" in p or "_net_1/" in p,
    "nets' last convolutions": lambda p: "_net_out/" in p,
    "nets' output factors": lambda p: "_net_scale/" in p,
    "all coupling nets": lambda p: "_net" in p,
    "Actnorms": lambda p: "actnorm" in p,
    "priors": lambda p: "prior" in p,
    "level 0": lambda p: "level0" in p,
    "level 1": lambda p: "level1" in p,
    "level 2": lambda p: "level2" in p,
    "everything": lambda p: True,
}


def main():
    parser = arguments(__doc__, name="glow_spike_trace", backend="tensorflow")
    parser.add_argument("--set", default="", help="key=value,... changed from BASE")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    import glow_stability as stability
    import keras
    import numpy as np

    config = dict(stability.BASE, seed=args.seed)
    for pair in filter(None, args.set.split(",")):
        key, value = pair.split("=")
        kind = type(config[key])
        config[key] = value == "True" if kind is bool else kind(value)
    config["backend"] = keras.backend.backend()
    record = Record(args.name, {**vars(args), "config": config})

    keras.utils.set_random_seed(args.seed)
    x_train, x_held_out = stability.load_data(config["data"], args.seed)
    model = stability.build(config, x_train.shape[1:])
    dims = math.prod(x_train.shape[1:])
    weights, losses = [], []

    class KeepWeights(keras.callbacks.Callback):  # a subclass: JAX syncs its state
        def on_train_batch_begin(self, batch, logs=None):
            weights.append(self.model.get_weights())

    callbacks = [KeepWeights(), stability.batch_bits(losses, dims)]
    model.fit(x_train, batch_size=config["batch"], epochs=1, verbose=0,
              steps_per_epoch=args.steps, callbacks=callbacks)  # fmt: skip
    ratio, worst = max((losses[t] / m, t) for t, m in stability.medians_before(losses))
    # `worst` is 0-based; its loss was computed with weights[worst]
    print("batch bits/dim:", " ".join(f"{v:.2f}" for v in losses))
    print(f"worst: batch {worst + 1}, {losses[worst]:.2f} ({ratio:.1f}x the median)")

    probe = x_held_out[:256]

    def held_out(values):
        model.set_weights(values)
        bpd = np.asarray(model.bits_per_dim(probe))
        return dict(mean=bpd.mean(), median=np.median(bpd), max=bpd.max())

    rows = [
        dict(weights=f"before batch {j + 1}", **held_out(weights[j]))
        for j in (worst - 1, worst, worst + 1)
        if j < len(weights)
    ]
    before, after = weights[worst - 1], weights[worst]
    paths = [w.path for w in model.weights]

    def update_of(keep):
        return held_out([a if keep(p) else b for p, a, b in zip(paths, after, before)])

    def layer_of(path):
        return path.rsplit("/", 1)[0]

    layers = sorted(set(map(layer_of, paths)))
    alone = [(update_of(lambda p, a=lay: layer_of(p) == a), lay) for lay in layers]
    worst_alone, layer = max(alone, key=lambda item: item[0]["mean"])
    label = f"update {worst}, one layer alone (worst: {layer})"
    rows.append(dict(weights=label, **worst_alone))
    rows += [
        dict(weights=f"update {worst}, {name}", **update_of(keep))
        for name, keep in PARTS.items()
    ]
    print_table(rows, dict(weights="", mean=".2f", median=".2f", max=".1f"))
    rows = [{k: v if k == "weights" else float(v) for k, v in r.items()} for r in rows]
    losses = [round(v, 3) for v in losses]
    record.write(dict(losses=losses, worst_batch=worst + 1, rows=rows))


if __name__ == "__main__":
    main()
