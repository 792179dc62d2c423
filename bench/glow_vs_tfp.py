"""Training step time of `keras_flows.models.Glow` against `tfp.bijectors.Glow`
(docs/results.md, "Training speed against `tfb.Glow`").

One process, TensorFlow, both at one size: images 32x32x3, 3 levels x 8 steps,
affine coupling with one shared net (ours with tfb's scale `sigmoid(raw + 2)`),
LU 1x1 convolution, 400 hidden channels, Actnorm initialised from the first
batch, batch 16, Keras `Adam(1e-4)`; ours by `train_on_batch`, tfb.Glow (over a
standard normal, `GlowDefaultNetwork`, `GlowDefaultExitNetwork`) by a
`tf.function` step on `-mean(log_prob(x + u))` as TFP's docs do. Data: fixed
random 8-bit images in [-1, 1), 4 batches cycled, dequantised with U[0, 2/256).

After a warm-up, `--rounds` rounds of `--steps` steps per model, alternating
which goes first; what counts is the median of the per-round ratios ours/tfb.
Then a profile, timed interleaved with both whole steps so that its parts share
one load: the floor (our 24 coupling nets alone, forward + backward on their
real input shapes), our forward, forward + backward and optimizer update, the
same flow with 8-channel nets (everything but the nets), and tfb's parts.

    python bench/glow_vs_tfp.py            # ~6 min on a busy 2-core machine
    python bench/glow_vs_tfp.py --quick    # tiny sizes, a smoke run
"""

import statistics
import time

from harness import Record, arguments, bench_glow, in_turns, print_table

FULL = dict(
    image=(32, 32, 3), levels=3, depth=8, hidden=400, batch=16, skeleton_hidden=8
)
QUICK = dict(image=(8, 8, 3), levels=3, depth=2, hidden=16, batch=4, skeleton_hidden=4)


def _timed(fn):
    """`fn` that returns its seconds (`fn` must block until done)."""

    def timed():
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return timed


def _make_data(size, n_batches=4, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    levels = rng.integers(0, 256, (n_batches, size["batch"], *size["image"]))
    return (levels / 128.0 - 1.0).astype("float32")  # 8-bit grid on [-1, 1)


def _build_ours(size, first_batch, hidden=None):
    """Our Glow, Actnorm initialised on `first_batch` (as `Glow.fit` does)."""
    from keras_flows.graph import initialize

    sizes = size["levels"], size["depth"], hidden or size["hidden"]
    model = bench_glow(size["image"], 1e-4, *sizes, coupling_scale="sigmoid")
    initialize(model.encoder, first_batch)
    return model


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


def tfb_glow(image_shape, levels, depth, hidden, lr):
    """`tfb.Glow` over a standard normal, as TFP's docs train it: `(glow, dist,
    loss_of, step)`, `loss_of(x)` the mean NLL of `x + U[0, 2/256)` and
    `step(x)` a `tf.function` training step on it with Keras' `Adam(lr)`."""
    import functools

    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfb, tfd = tfp.bijectors, tfp.distributions
    glow = tfb.Glow(
        output_shape=image_shape,
        num_glow_blocks=levels,
        num_steps_per_block=depth,
        coupling_bijector_fn=functools.partial(
            tfb.GlowDefaultNetwork, num_hidden=hidden
        ),
        exit_bijector_fn=tfb.GlowDefaultExitNetwork,
        seed=0,
    )
    z_shape = glow.inverse_event_shape(image_shape)
    dist = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), z_shape), glow)
    optimizer = keras.optimizers.Adam(lr)

    def loss_of(x):
        x = x + tf.random.uniform(tf.shape(x), 0.0, 2.0 / 256)
        return -tf.reduce_mean(dist.log_prob(x))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = loss_of(x)
        variables = glow.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return glow, dist, loss_of, step


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
    import tensorflow as tf

    data = _make_data(size)
    tensors = [tf.constant(batch) for batch in data]
    x0 = tensors[0]
    # Seed once: re-seeding TensorFlow later would retrace every tf.function (the
    # global seed is part of its cache key).
    keras.utils.set_random_seed(0)

    def warm_up(step):  # the first step traces (and runs Actnorm's data init)
        return [step(k) for k in range(args.warmup + 1)][:1]

    def ours_step(k):
        return float(ours.train_on_batch(data[k % len(data)]))

    def tfb_step(k):
        return float(tfb_train(tensors[k % len(data)]))

    start = time.perf_counter()
    ours = _build_ours(size, data[0])
    losses = {"ours": warm_up(ours_step)}
    warm = {"ours": round(time.perf_counter() - start, 1)}
    start = time.perf_counter()
    sizes = size["levels"], size["depth"], size["hidden"]
    glow, _, tfb_loss, tfb_train = tfb_glow(size["image"], *sizes, 1e-4)
    losses["tfb"] = warm_up(tfb_step)
    warm["tfb"] = round(time.perf_counter() - start, 1)
    steps = {"ours": ours_step, "tfb": tfb_step}

    def timed_round(step):
        start = time.perf_counter()
        loss = [step(k) for k in range(args.steps)][-1]
        return (time.perf_counter() - start) / args.steps, loss

    rounds = in_turns(
        {n: lambda n=n: timed_round(steps[n]) for n in steps}, args.rounds
    )
    per_step = {name: [s for s, _ in r] for name, r in rounds.items()}
    for name, r in rounds.items():
        losses[name] += [loss for _, loss in r]
    ratios = [o / t for o, t in zip(per_step["ours"], per_step["tfb"])]

    nets_fwd, nets_fwd_bwd, nets_params = _nets_alone(size)
    forward, forward_backward, apply = _ours_parts(ours, data[0])
    skel = _build_ours(size, data[0], size["skeleton_hidden"])
    skel.train_on_batch(data[0])
    skel_fwd, skel_fwd_bwd, _ = _ours_parts(skel, data[0])
    tfb_fwd, tfb_fwd_bwd = _tf_parts(lambda: tfb_loss(x0), glow.trainable_variables)
    parts = {
        "nets_alone_forward": lambda: float(nets_fwd()),
        "nets_alone_forward_backward": lambda: nets_fwd_bwd()[0].numpy(),
        "ours_forward": lambda: float(forward()),
        "ours_forward_backward": lambda: float(forward_backward()[0]),
        "ours_optimizer_apply": lambda: apply() or ours.optimizer.iterations.numpy(),
        "ours_step": lambda: float(ours.train_on_batch(data[0])),
        "skeleton_forward": lambda: float(skel_fwd()),
        "skeleton_forward_backward": lambda: float(skel_fwd_bwd()[0]),
        "skeleton_step": lambda: float(skel.train_on_batch(data[0])),
        "tfb_forward": lambda: float(tfb_fwd()),
        "tfb_forward_backward": lambda: float(tfb_fwd_bwd()[0]),
        "tfb_step": lambda: float(tfb_train(x0)),
    }
    for part in parts.values():  # traces
        part()
    times = in_turns({k: _timed(part) for k, part in parts.items()}, args.profile_reps)
    prof = {k: round(statistics.median(t), 4) for k, t in times.items()}
    ours_stored, ours_effective = _count_ours(ours)
    tfb_params = sum(int(v.numpy().size) for v in glow.trainable_variables)
    return {
        "params": {
            "ours_trainable_stored": ours_stored,
            "ours_trainable_effective": ours_effective,
            "tfb_trainable": tfb_params,
            "nets_alone": nets_params,
            "ours_minus_tfb_effective": ours_effective - tfb_params,
        },
        "warmup_seconds": warm,
        "seconds_per_step": {
            "ours_median": round(statistics.median(per_step["ours"]), 4),
            "tfb_median": round(statistics.median(per_step["tfb"]), 4),
            "ours_rounds": [round(v, 4) for v in per_step["ours"]],
            "tfb_rounds": [round(v, 4) for v in per_step["tfb"]],
        },
        "ratio_ours_over_tfb": {
            "median": round(statistics.median(ratios), 3),
            "rounds": [round(v, 3) for v in ratios],
        },
        "profile_seconds": prof | {"reps": args.profile_reps},
        "losses_nats_per_image": {
            f"{name}_first_and_after_each_round": [round(v, 1) for v in loss]
            for name, loss in losses.items()
        },
    }


def _print_table(res):
    sps, par, prof = res["seconds_per_step"], res["params"], res["profile_seconds"]
    ratio = res["ratio_ours_over_tfb"]
    rows = [
        ("ours: keras_flows Glow", sps["ours_median"], par["ours_trainable_effective"]),
        ("tfb.Glow", sps["tfb_median"], par["tfb_trainable"]),
        ("ours / tfb (median of rounds)", ratio["median"],
         par["ours_minus_tfb_effective"]),
        ("floor: 24 nets alone, fwd+bwd", prof["nets_alone_forward_backward"],
         par["nets_alone"]),
    ]  # fmt: skip
    columns = {"model": "", "s_per_step": ".3f", "params": ","}
    print_table([dict(zip(columns, row)) for row in rows], columns)
    print(
        f"per-round ratios: {ratio['rounds']}; ours stores "
        f"{par['ours_trainable_stored']:,} trainable (InvConv1x1 keeps full L and U)"
    )
    head = "profile (interleaved, one load)"
    parts = [
        {head: k, "s": v, "pct_of_ours": 100 * v / prof["ours_step"]}
        for k, v in prof.items()
        if k != "reps"
    ]
    print_table(parts, {head: "", "s": ".3f", "pct_of_ours": ".0f"})


def main():
    parser = arguments(__doc__, quick=True, backend="tensorflow")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--steps", type=int, default=10, help="steps per round")
    parser.add_argument("--warmup", type=int, default=3, help="steps after tracing")
    parser.add_argument("--profile-reps", type=int, default=5)
    args = parser.parse_args()
    size = dict(QUICK if args.quick else FULL)
    settings = {**size, **vars(args), "coupling_scale": "sigmoid"}
    settings["optimizer"] = "keras Adam(1e-4), both"
    settings["data"] = "fixed random 8-bit images in [-1, 1), 4 batches cycled"
    record = Record("glow_vs_tfp", settings)
    result = run(args, size)
    _print_table(result)
    record.write(result, quick=args.quick)


if __name__ == "__main__":
    main()
