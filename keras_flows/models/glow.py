"""Glow: a multi-scale flow of Actnorm, channel mixing and coupling steps, as in the
second post of the "细水长flow" series and its Keras 2 `glow.py`.

The builders read like the paper's Figure 2: `flow_step` is one step of flow
(Actnorm -> permutation -> coupling), `flow_level` squeezes, runs `depth` steps and
factors out half the channels under a learned prior, and `glow_flow` loops over the
levels. They are plain functions on Keras tensors, so another model (f-VAE's flow
F) can call the same builders.
"""

import keras

from keras_flows import layers as L
from keras_flows.checks import check_image_shape, check_n_bits, check_sizes
from keras_flows.layers.base import register
from keras_flows.layers.couplings import SCALES
from keras_flows.models.base import FlowModel, constructor_arguments, named
from keras_flows.models.conditional import label_embedding
from keras_flows.nets import Checkpointed, conv_net

COUPLINGS = ("additive", "affine")
# The flow itself computes in float32 under any precision policy; only the
# coupling nets (`nets.conv_net`, most of the compute) take the global policy, so
# bfloat16 training speeds up the convolutions without rounding the invertible
# maps, their log-dets or the priors.
FLOW_DTYPE = "float32"
PERMUTATIONS = ("random", "reverse", "conv1x1")


def flow_step(
    x,
    hidden_channels=512,
    coupling="additive",
    permutation="random",
    coupling_scale="tanh",
    actnorm_data_init=False,
    remat=False,
    add_logdet_to_loss=True,
    seed=None,
    name=None,
):
    """One step of flow: Actnorm -> permutation -> Split -> coupling -> Concat.

    Args:
        x: a Keras tensor `(batch, H, W, C)`, `C >= 2`.
        hidden_channels: width of the coupling net (`nets.conv_net`).
        coupling: `"additive"` (shift only, the seed) or `"affine"` (one shared
            net for shift and scale, as the Glow paper).
        permutation: `"random"`, `"reverse"` (`Permute`) or `"conv1x1"`
            (`InvConv1x1`).
        coupling_scale: the affine scale parameterisation (`AffineCouple`'s
            `scale`); ignored for additive coupling.
        actnorm_data_init: data-dependent Actnorm initialisation.
        remat: recompute the coupling net's activations in the backward pass
            instead of storing them (`keras.RematScope`): less memory, more
            compute.
        add_logdet_to_loss: whether the layers add their log-dets to the
            model's losses (`False` when the model sums them itself).
        seed: seed of the random permutation or of the 1x1 conv's rotation.
        name: prefix of the layer names, or `None`.

    Returns:
        A tensor of the shape of `x`.
    """
    to_loss = dict(add_logdet_to_loss=add_logdet_to_loss, dtype=FLOW_DTYPE)
    x = L.Actnorm(data_init=actnorm_data_init, name=named(name, "actnorm"), **to_loss)(
        x
    )
    if permutation == "conv1x1":
        x = L.InvConv1x1(seed=seed, name=named(name, "conv1x1"), **to_loss)(x)
    else:
        x = L.Permute(
            permutation, seed=seed, name=named(name, "permute"), dtype=FLOW_DTYPE
        )(x)
    x1, x2 = L.Split(name=named(name, "split"), dtype=FLOW_DTYPE)(x)
    c1, c2 = x1.shape[-1], x2.shape[-1]
    outputs = c2 if coupling == "additive" else 2 * c2
    net = conv_net(c1, outputs, hidden_channels, name=named(name, "net"))
    if remat:
        net = Checkpointed(net, name=named(name, "checkpointed"))
    if coupling == "additive":
        couple = L.AffineCouple(net, name=named(name, "couple"), **to_loss)
    else:
        couple = L.AffineCouple(
            net, scale=coupling_scale, name=named(name, "couple"), **to_loss
        )
    x1, x2 = couple([x1, x2])
    return L.Concat(name=named(name, "concat"), dtype=FLOW_DTYPE)([x1, x2])


def flow_level(
    x, depth, split=True, squeeze=True, seed=None, name=None, labels=None, **step_kwargs
):
    """One level: Squeeze, `depth` steps of flow, then factor out half.

    With `split`, the second half of the channels leaves the flow under a learned
    prior conditioned on the first half (`CondActnorm([x2, x1])`, the seed's
    `split2d`) and the first half goes on to the next level; the last level
    (`split=False`) ends in an Actnorm (a learned diagonal prior) instead.

    Args:
        x: a Keras tensor `(batch, H, W, C)` with even `H` and `W`.
        depth: number of steps of flow (`K`).
        split: factor out half the channels (every level but the last).
        squeeze: start with a Squeeze (f-VAE's first level runs without).
        seed: seed of the first step; step `k` uses `seed + k`.
        name: prefix of the layer names, or `None`.
        labels: a one-hot label tensor `(batch, K)` that the prior also reads,
            or `None`. With labels, the label is embedded as a learned map of
            the level's height and width (`label_embedding`), the split prior
            is `CondActnorm([x2, concat(x1, embedding)])` and the last level's
            prior `CondActnorm([x, embedding])`: a class-conditional mean and
            scale at every pixel, as the Glow paper's class-conditional model
            (whose top prior is conditioned per channel only).
        **step_kwargs: `flow_step` arguments.

    Returns:
        `(z_part, x_next)`: the factored-out part flattened to `(batch, D_part)`,
        and the tensor for the next level (`None` after the last level).
    """
    if squeeze:
        x = L.Squeeze(name=named(name, "squeeze"), dtype=FLOW_DTYPE)(
            x
        )  # (B, H/2, W/2, 4C)
    for k in range(depth):
        step_seed = None if seed is None else seed + k
        x = flow_step(x, seed=step_seed, name=named(name, f"step{k}"), **step_kwargs)
    data_init = step_kwargs.get("actnorm_data_init", False)
    to_loss = dict(
        add_logdet_to_loss=step_kwargs.get("add_logdet_to_loss", True), dtype=FLOW_DTYPE
    )
    prior = L.CondActnorm(name=named(name, "prior"), **to_loss)
    if labels is not None:
        label_map = label_embedding(labels, *x.shape[1:3], name=named(name, "label"))
    if not split:
        if labels is None:
            z = L.Actnorm(data_init=data_init, name=named(name, "prior"), **to_loss)(x)
        else:
            z = prior([x, label_map])
        return L.Flatten(name=named(name, "flatten"), dtype=FLOW_DTYPE)(z), None
    x1, x2 = L.Split(name=named(name, "split"), dtype=FLOW_DTYPE)(x)
    condition = x1
    if labels is not None:
        concat = keras.layers.Concatenate(
            name=named(name, "condition"), dtype=FLOW_DTYPE
        )
        condition = concat([x1, label_map])
    z = prior([x2, condition])
    return L.Flatten(name=named(name, "flatten"), dtype=FLOW_DTYPE)(z), x1


def glow_flow(x, levels=3, depth=10, seed=None, name=None, labels=None, **step_kwargs):
    """Glow's multi-scale flow: `levels` x `flow_level`, the last without a split.

    Args:
        x: a Keras tensor `(batch, H, W, C)`, `H` and `W` divisible by
            `2**levels`.
        levels: number of levels (`L`).
        depth: steps of flow per level (`K`).
        seed: seed of the first step; the steps of level `i` start at
            `seed + i * depth`.
        name: prefix of the layer names, or `None`.
        labels: a one-hot label tensor every level's prior reads (see
            `flow_level`), or `None`.
        **step_kwargs: `flow_step` arguments.

    Returns:
        The list of flattened latent parts `(batch, D_i)` in level order: the
        first level's factored-out half first, the last level's output last.
    """
    parts = []
    for i in range(levels):
        level_seed = None if seed is None else seed + i * depth
        z, x = flow_level(
            x,
            depth,
            split=i < levels - 1,
            labels=labels,
            seed=level_seed,
            name=named(name, f"level{i}"),
            **step_kwargs,
        )
        parts.append(z)
    return parts


@register
class Glow(FlowModel):
    """Glow on images in [-1, 1]: the multi-scale flow of `glow_flow`.

    Encoder (data -> latent), the seed script's:
    `Dequantize -> L x [Squeeze -> K x [Actnorm -> permutation -> Split -> coupling
    -> Concat] -> (Split -> CondActnorm -> Flatten) or, last, (Actnorm -> Flatten)]`
    and `z = Concat(parts)`, a flat `(batch, H * W * C)` vector in level order.
    Every coupling net is `Conv3x3(hidden) -> ReLU -> Conv1x1(hidden) -> ReLU ->
    Conv3x3(zeros)` (`nets.conv_net`): the zero-initialised last layer makes
    each step start as the identity, so a deep stack trains from step one. The
    decoder is built from the encoder's layers (`graph.build_decoder`).

    Data noise: `Dequantize` snaps the data to `2**n_bits` levels on [-1, 1] and
    adds `U[0, 2 / 2**n_bits)` (one level's width) while training, the same
    quantisation and noise as `bits_per_dim`. The seed script adds `U[0, 1/256)`,
    half a level's width for 8-bit data on [-1, 1].

    The loss `fit` reports is the exact NLL in nats per image,
    `0.5 |z|^2 + 0.5 D log(2 pi) - log|det J|`, the seed's loss.

    Args:
        input_shape: `(H, W, C)`, `H` and `W` divisible by `2**levels`.
        levels: number of levels `L` (seed script: 3; the paper uses 6 at
            256x256).
        depth: steps per level `K` (seed script: 10; the paper: 32).
        hidden_channels: width of the coupling nets (seed: 512).
        coupling: `"additive"` (the seed) or `"affine"` (one shared net for shift
            and scale).
        permutation: `"random"` (the seed), `"reverse"` or `"conv1x1"` (the
            paper's invertible 1x1 convolution).
        coupling_scale: how an affine coupling's scale is parameterised,
            `"tanh"`, `"sigmoid"` or `"exp"` (see `AffineCouple`); the default
            is the soft clamp `3 tanh(raw / 3)`.
        actnorm_data_init: initialise every Actnorm from the first batch of
            `fit` (the paper); the seed's zero init otherwise.
        n_bits: bits per pixel the model is trained and evaluated on (1 to 8;
            the paper uses 5 on CelebA-HQ).
        remat: gradient checkpointing of the coupling nets (see `flow_step`).
        num_classes: `K` for a class-conditional Glow: the top prior and every
            split prior get a learned mean and log-std from the one-hot label
            (see `flow_level`); it trains with `fit(x, y)` on integer labels
            and takes `labels` in `encode`, `decode`, `log_prob`,
            `bits_per_dim` and `sample`; `predict_class(x)` is the generative
            classifier. `None` (default): unconditional.
        seed: seed of the permutations, 1x1 convolutions and noise.
        **kwargs: `keras.Model` arguments (`name`).

    Example:

    >>> import keras, numpy as np
    >>> model = Glow((8, 8, 1), levels=2, depth=1, hidden_channels=8, seed=0)
    >>> model.compile(keras.optimizers.Adam(1e-3))
    >>> x = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 1)).astype("float32")
    >>> history = model.fit(x, batch_size=4, epochs=1, verbose=0)
    >>> model.encode(x[:2]).shape
    (2, 64)
    >>> bool(np.allclose(model.reconstruct(x[:2]), x[:2], atol=1e-4))
    True

    Reference:
        Kingma & Dhariwal, Glow (2018), arXiv:1807.03039;
        Su, "细水长flow之RealNVP与Glow：流模型的传承与升华" (2018).
    """

    def __init__(
        self,
        input_shape=(64, 64, 3),
        levels=3,
        depth=10,
        hidden_channels=512,
        coupling="additive",
        permutation="random",
        coupling_scale="tanh",
        actnorm_data_init=False,
        n_bits=8,
        remat=False,
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        config = constructor_arguments(locals())
        _check_arguments(**config)
        input_shape, seed = config["input_shape"], config["seed"]
        x_in = keras.Input(input_shape, name="x")
        inputs, labels = x_in, None
        if num_classes is not None:
            labels = keras.Input((num_classes,), name="y")  # one-hot
            inputs = [x_in, labels]
        x = L.Dequantize(
            n_bits, (-1.0, 1.0), seed=seed, name="dequantize", dtype=FLOW_DTYPE
        )(x_in)
        parts = glow_flow(
            x,
            levels,
            depth,
            labels=labels,
            seed=seed,
            hidden_channels=hidden_channels,
            coupling=coupling,
            permutation=permutation,
            coupling_scale=coupling_scale,
            actnorm_data_init=actnorm_data_init,
            remat=remat,
            name="glow",
        )
        z = L.Concat(name="z", dtype=FLOW_DTYPE)(parts) if len(parts) > 1 else parts[0]
        super().__init__(
            keras.Model(inputs, z, name="glow_encoder"),
            image_shape=input_shape,
            data_range=(-1.0, 1.0),
            n_bits=n_bits,
            num_classes=num_classes,
            **kwargs,
        )
        self.config = config

    def get_config(self):
        return {**self.config, "name": self.name}


def _check_arguments(
    input_shape,
    levels,
    depth,
    hidden_channels,
    n_bits,
    coupling,
    permutation,
    coupling_scale,
    num_classes,
    **_,
):
    check_image_shape(input_shape, "Glow")
    check_sizes("Glow", levels=levels, depth=depth, hidden_channels=hidden_channels)
    if num_classes is not None:
        check_sizes("Glow", minimum=2, num_classes=num_classes)
    height, width, _ = input_shape
    if height % 2**levels or width % 2**levels:
        raise ValueError(
            "`Glow` needs height and width divisible by 2**levels (one squeeze per "
            f"level). Received: input_shape={input_shape}, levels={levels}"
        )
    choices = dict(coupling=coupling, permutation=permutation)
    choices.update(coupling_scale=coupling_scale)
    allowed = dict(coupling=COUPLINGS, permutation=PERMUTATIONS, coupling_scale=SCALES)
    for arg, value in choices.items():
        if value not in allowed[arg]:
            raise ValueError(
                f"`Glow` {arg} must be one of {allowed[arg]}. Received: {arg}={value!r}"
            )
    check_n_bits(n_bits, "Glow")
