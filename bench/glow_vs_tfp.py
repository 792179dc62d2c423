"""Training step time of `keras_flows.models.Glow` against `tfp.bijectors.Glow`.

Both models are built at the same size in one process on the TensorFlow backend:
images 32x32x3, 3 levels x 8 steps, affine coupling with one shared net for shift
and scale, the LU-parameterised invertible 1x1 convolution, 400 hidden channels,
batch 16, ``Adam(1e-4)``.

- Ours: ``Glow((32, 32, 3), levels=3, depth=8, hidden_channels=400,
  coupling="affine", permutation="conv1x1", coupling_scale="sigmoid",
  actnorm_data_init=True)`` (``"sigmoid"`` is tfb.Glow's scale,
  ``sigmoid(raw + 2)``), compiled with ``Adam(1e-4)`` and trained with
  ``train_on_batch`` (its loss is the NLL in nats per image).
- tfb.Glow: ``tfb.Glow(output_shape=(32, 32, 3), num_glow_blocks=3,
  num_steps_per_block=8, coupling_bijector_fn=partial(tfb.GlowDefaultNetwork,
  num_hidden=400), exit_bijector_fn=tfb.GlowDefaultExitNetwork)`` in a
  ``TransformedDistribution`` over ``Sample(Normal(0, 1), z_shape)``, trained by a
  ``tf.function`` step (``tf.GradientTape``, loss ``-mean(log_prob(x))``, the same
  Keras 3 ``Adam(1e-4)`` applied to ``glow.trainable_variables``), as TFP's docs do.

Both coupling nets are Conv3x3(400, relu) -> Conv1x1(400, relu) -> Conv3x3(2 C,
zeros); both learned priors at the splits are one zero-initialised Conv3x3 of the
kept half (tfb's exit bijector, our ``CondActnorm``); both Actnorms are
initialised from the first batch. The data are fixed random 8-bit images in
[-1, 1] (4 batches, cycled), dequantised with U[0, 2/256) noise in both steps.

Timing: after a warm-up (tracing and a few steps), ``--rounds`` rounds of
``--steps`` steps per model, alternating which model goes first, each step
synchronised (the loss is read back). The machine may be shared, so absolute
seconds drift; the figure that counts is the median of the per-round ratios
ours/tfb. Then the floor (our 24 coupling nets alone, forward + backward on their
real input shapes, in one ``tf.function``) and a breakdown of one of our steps:
forward (loss) alone, forward + backward, the optimizer update alone, and the
same flow with 8 hidden channels (everything but the nets' cost), and tfb's
forward and forward + backward; this profile is timed interleaved, with both whole
steps again, so its parts share one load.

Prints a table and writes ``bench/results/glow_vs_tfp.json``::

    python bench/glow_vs_tfp.py            # ~10 min on a busy 2-core machine
    python bench/glow_vs_tfp.py --quick    # tiny sizes, a smoke run
"""

import argparse
import os
import statistics
import sys
import time

from harness import Record, print_table

FULL = dict(
    image=(32, 32, 3), levels=3, depth=8, hidden=400, batch=16, skeleton_hidden=8
)
QUICK = dict(image=(8, 8, 3), levels=3, depth=2, hidden=16, batch=4, skeleton_hidden=4)


def _interleaved_medians(fns, reps, warmup=1):
    """Median seconds per call of each `fn()` (each must block until done), the
    calls interleaved (one of each per repetition) so that all of them see the
    same load on a shared machine."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _make_data(size, n_batches=4, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    levels = rng.integers(0, 256, (n_batches, size["batch"], *size["image"]))
    return (levels / 128.0 - 1.0).astype("float32")  # 8-bit grid on [-1, 1)


def _build_ours(size, scale, hidden=None, seed=0):
    import keras

    from keras_flows.graph import initialize
    from keras_flows.models import Glow

    model = Glow(
        size["image"],
        levels=size["levels"],
        depth=size["depth"],
        hidden_channels=hidden or size["hidden"],
        coupling="affine",
        permutation="conv1x1",
        coupling_scale=scale,
        actnorm_data_init=True,
        seed=seed,
    )
    model.compile(keras.optimizers.Adam(1e-4))
    return model, initialize


def _count_ours(model):
    """Trainable parameters as stored, and without the entries of `InvConv1x1`'s
    `lower`/`upper` that its masks zero (each stores a full C x C matrix)."""
    from keras_flows.layers import InvConv1x1

    stored = sum(int(w.numpy().size) for w in model.trainable_weights)
    masked = 0
    for layer in model.encoder.layers:
        if isinstance(layer, InvConv1x1):
            c = int(layer.log_s.shape[0])
            masked += c * (c + 1)  # lower: upper triangle + diag; upper: the rest
    return stored, stored - masked


def _build_tfb(size, seed=0):
    import functools

    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfb, tfd = tfp.bijectors, tfp.distributions
    glow = tfb.Glow(
        output_shape=size["image"],
        num_glow_blocks=size["levels"],
        num_steps_per_block=size["depth"],
        coupling_bijector_fn=functools.partial(
            tfb.GlowDefaultNetwork, num_hidden=size["hidden"]
        ),
        exit_bijector_fn=tfb.GlowDefaultExitNetwork,
        seed=seed,
    )
    z_shape = glow.inverse_event_shape(size["image"])
    dist = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), z_shape), glow)
    variables = glow.trainable_variables
    optimizer = keras.optimizers.Adam(1e-4)
    noise = 2.0 / 256

    def loss_of(x):
        x = x + tf.random.uniform(tf.shape(x), 0.0, noise)
        return -tf.reduce_mean(dist.log_prob(x))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = loss_of(x)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            loss = loss_of(x)
        return loss, tape.gradient(loss, variables)

    forward = tf.function(loss_of)
    return glow, variables, step, forward, forward_backward


def _nets_alone(size):
    """Our 24 coupling nets alone: forward, and forward + backward (weights and
    inputs), one tf.function each, on the shapes they see inside Glow (level i:
    (H/2^(i+1), W/2^(i+1)), x1 with 2 C 2^i channels, output 4 C 2^i)."""
    import tensorflow as tf

    from keras_flows.nets import conv_net

    h, w, c = size["image"]
    nets, inputs = [], []
    rng = tf.random.Generator.from_seed(0)
    for i in range(size["levels"]):
        channels = c * 4 * 2**i  # after squeeze (x4), then halved at each split
        half = channels // 2
        shape = (size["batch"], h // 2 ** (i + 1), w // 2 ** (i + 1), half)
        for _ in range(size["depth"]):
            nets.append(conv_net(half, 2 * half, size["hidden"]))
            inputs.append(rng.normal(shape))
    variables = [v for net in nets for v in net.trainable_weights]
    params = sum(int(v.numpy().size) for v in variables)

    def loss_of():
        return tf.add_n([tf.reduce_sum(tf.square(n(x))) for n, x in zip(nets, inputs)])

    # The inputs' gradients too: inside the flow, x1's is needed upstream.
    return (*_tf_parts(loss_of, variables, inputs), params)


def _tf_parts(loss_of, variables, watched=()):
    """tf.functions for `loss_of()` and for it with its gradients with respect to
    `variables` and the `watched` tensors: the forward and forward + backward
    passes the profile times."""
    import tensorflow as tf

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            tape.watch(watched)
            loss = loss_of()
        return loss, tape.gradient(loss, [*variables, *watched])

    return tf.function(loss_of), forward_backward


def _ours_parts(model, x):
    """tf.functions for our forward (the loss), forward + backward, and the
    optimizer update alone (the model's own Adam, applied to fixed gradients)."""
    import tensorflow as tf

    variables = model.trainable_variables
    xt = tf.constant(x)

    def loss_of():
        model(xt, training=True)
        return tf.add_n(model.losses)

    forward, forward_backward = _tf_parts(loss_of, variables)
    _, grads = forward_backward()
    grads = [tf.constant(g.numpy() * 0.0) for g in grads]  # zeros: weights stay put

    @tf.function
    def apply():
        model.optimizer.apply(grads, variables)

    return forward, forward_backward, apply


def run(args, size):
    import keras
    import numpy as np
    import tensorflow as tf

    result = {}
    data = _make_data(size)
    # Seed once: re-seeding TensorFlow later would retrace every tf.function (the
    # global seed is part of its cache key).
    keras.utils.set_random_seed(0)

    # ---- build and warm up
    t0 = time.perf_counter()
    ours, initialize = _build_ours(size, args.coupling_scale)
    initialize(ours.encoder, data[0])  # what Glow.fit does on its first batch
    ours_stored, ours_effective = _count_ours(ours)
    losses = {"ours": [float(ours.train_on_batch(data[0]))]}
    for i in range(args.warmup):
        ours.train_on_batch(data[(i + 1) % len(data)])
    warm_ours = time.perf_counter() - t0
    print(f"ours built and warmed up in {warm_ours:.1f}s", file=sys.stderr)

    t0 = time.perf_counter()
    glow, tfb_vars, tfb_step, tfb_forward, tfb_fwd_bwd = _build_tfb(size)
    tensors = [tf.constant(b) for b in data]
    losses["tfb"] = [float(tfb_step(tensors[0]))]  # Actnorm data init, then trace
    for i in range(args.warmup):
        float(tfb_step(tensors[(i + 1) % len(data)]))
    tfb_params = sum(int(np.prod(v.shape)) for v in tfb_vars)
    warm_tfb = time.perf_counter() - t0
    print(f"tfb.Glow built and warmed up in {warm_tfb:.1f}s", file=sys.stderr)

    # ---- alternating timed rounds
    def run_ours(k):
        return float(ours.train_on_batch(data[k % len(data)]))

    def run_tfb(k):
        return float(tfb_step(tensors[k % len(data)]))

    runners = {"ours": run_ours, "tfb": run_tfb}
    per_step = {"ours": [], "tfb": []}
    for r in range(args.rounds):
        order = ["ours", "tfb"] if r % 2 == 0 else ["tfb", "ours"]
        for name in order:
            start = time.perf_counter()
            for k in range(args.steps):
                loss = runners[name](k)
            per_step[name].append((time.perf_counter() - start) / args.steps)
            losses[name].append(loss)
        print(
            f"round {r + 1}/{args.rounds}: ours {per_step['ours'][-1]:.3f} s/step, "
            f"tfb {per_step['tfb'][-1]:.3f} s/step",
            file=sys.stderr,
        )
    ratios = [o / t for o, t in zip(per_step["ours"], per_step["tfb"])]

    # ---- profile: the floor (coupling nets alone), the parts of our step, the
    # same flow with tiny nets (everything but the nets), tfb's parts; all timed
    # interleaved, with both whole steps again, so they share one load.
    nets_fwd, nets_fwd_bwd, nets_params = _nets_alone(size)
    forward, forward_backward, apply = _ours_parts(ours, data[0])
    skel, _ = _build_ours(size, args.coupling_scale, size["skeleton_hidden"])
    initialize(skel.encoder, data[0])
    skel.train_on_batch(data[0])
    skel_fwd, skel_fwd_bwd, _ = _ours_parts(skel, data[0])
    x0 = tensors[0]
    prof = _interleaved_medians(
        {
            "nets_alone_forward": lambda: float(nets_fwd()),
            "nets_alone_forward_backward": lambda: nets_fwd_bwd()[0].numpy(),
            "ours_forward": lambda: float(forward()),
            "ours_forward_backward": lambda: float(forward_backward()[0]),
            "ours_optimizer_apply": lambda: (
                apply() or ours.optimizer.iterations.numpy()
            ),
            "ours_step": lambda: float(ours.train_on_batch(data[0])),
            "skeleton_forward": lambda: float(skel_fwd()),
            "skeleton_forward_backward": lambda: float(skel_fwd_bwd()[0]),
            "skeleton_step": lambda: float(skel.train_on_batch(data[0])),
            "tfb_forward": lambda: float(tfb_forward(x0)),
            "tfb_forward_backward": lambda: float(tfb_fwd_bwd(x0)[0]),
            "tfb_step": lambda: float(tfb_step(x0)),
        },
        args.profile_reps,
    )
    prof = {k: round(v, 4) for k, v in prof.items()}
    prof["reps"] = args.profile_reps

    ours_step = statistics.median(per_step["ours"])
    tfb_step_s = statistics.median(per_step["tfb"])
    result.update(
        {
            "params": {
                "ours_trainable_stored": ours_stored,
                "ours_trainable_effective": ours_effective,
                "tfb_trainable": tfb_params,
                "nets_alone": nets_params,
                "ours_minus_tfb_effective": ours_effective - tfb_params,
            },
            "warmup_seconds": {"ours": round(warm_ours, 1), "tfb": round(warm_tfb, 1)},
            "seconds_per_step": {
                "ours_median": round(ours_step, 4),
                "tfb_median": round(tfb_step_s, 4),
                "ours_rounds": [round(v, 4) for v in per_step["ours"]],
                "tfb_rounds": [round(v, 4) for v in per_step["tfb"]],
            },
            "ratio_ours_over_tfb": {
                "median": round(statistics.median(ratios), 3),
                "rounds": [round(v, 3) for v in ratios],
            },
            "profile_seconds": prof,
            "losses_nats_per_image": {
                "ours_first_and_after_each_round": [
                    round(v, 1) for v in losses["ours"]
                ],
                "tfb_first_and_after_each_round": [round(v, 1) for v in losses["tfb"]],
            },
        }
    )
    return result


def _print_table(res):
    sps, par, prof = res["seconds_per_step"], res["params"], res["profile_seconds"]
    ratio = res["ratio_ours_over_tfb"]
    ours, tfb = par["ours_trainable_effective"], par["tfb_trainable"]
    rows = [
        {
            "model": "ours: keras_flows Glow",
            "s_per_step": sps["ours_median"],
            "params": ours,
        },
        {"model": "tfb.Glow", "s_per_step": sps["tfb_median"], "params": tfb},
        {
            "model": "ours / tfb (median of rounds)",
            "s_per_step": ratio["median"],
            "params": ours - tfb,
        },
        {
            "model": "floor: 24 nets alone, fwd+bwd",
            "s_per_step": prof["nets_alone_forward_backward"],
            "params": par["nets_alone"],
        },
    ]
    print_table(rows, {"model": "", "s_per_step": ".3f", "params": ","})
    print(
        f"per-round ratios: {ratio['rounds']}; ours stores "
        f"{par['ours_trainable_stored']:,} trainable (InvConv1x1 keeps full L and U)"
    )
    step = prof["ours_step"]
    parts = [
        {"profile (interleaved, one load)": k, "s": v, "pct_of_ours": 100 * v / step}
        for k, v in prof.items()
        if k != "reps"
    ]
    print_table(
        parts, {"profile (interleaved, one load)": "", "s": ".3f", "pct_of_ours": ".0f"}
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--steps", type=int, default=10, help="steps per round")
    parser.add_argument("--warmup", type=int, default=3, help="steps after tracing")
    parser.add_argument("--profile-reps", type=int, default=5)
    parser.add_argument(
        "--coupling-scale",
        default="sigmoid",
        choices=("sigmoid", "tanh", "exp"),
        help="our AffineCouple scale (tfb.Glow's is sigmoid)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, smoke run")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    size = dict(QUICK if args.quick else FULL)
    settings = {**size, **vars(args), "optimizer": "keras Adam(1e-4), both"}
    settings["data"] = "fixed random 8-bit images in [-1, 1), 4 batches cycled"
    record = Record("glow_vs_tfp", settings)
    result = run(args, size)
    _print_table(result)
    record.write(result, quick=args.quick)


if __name__ == "__main__":
    main()
