"""Glow: a multi-scale flow of Actnorm, channel mixing and coupling steps, as in the
second post of the "细水长flow" series and its Keras 2 `glow.py`. The builders
(`flow_step`, `flow_level`, `glow_flow`, the paper's Figure 2) work on Keras
tensors, so f-VAE's flow F calls them too."""

import math

import keras

from keras_flows import layers as L
from keras_flows.checks import check_image_shape, check_n_bits, check_sizes, reject
from keras_flows.layers.couplings import SCALES
from keras_flows.models.base import FlowModel, constructor_arguments
from keras_flows.models.conditional import label_embedding
from keras_flows.nets import Checkpointed, conv_net
from keras_flows.serialization import named, register

COUPLINGS = ("additive", "affine")
# The invertible maps compute in float32 under any policy; only the coupling nets
# (most of the compute) take the global one.
FLOW_DTYPE = "float32"
PERMUTATIONS = ("random", "reverse", "conv1x1")
CHOICES = dict(coupling=COUPLINGS, permutation=PERMUTATIONS, coupling_scale=SCALES)
# Actnorm keeps activations near unit scale, which a clamp at 4 leaves nearly as is.
NET_INPUT_BOUND = 4.0
NET_OUTPUT_SCALE = 0.1
COUPLING_SCALE_BOUND = 3.0  # flow_step's, and Glows saved before "auto"
# "auto": each level's couplings together scale a dimension at most 256x
# (ln 256 / depth a coupling, at most 3). A chain of e^3 expansions in one level
# was issue 29's last blow-up; ln 2 at any depth slows shallow Glows (docs/results.md).
LEVEL_SCALE_BOUND = math.log(256)


def auto_coupling_scale_bound(depth):
    """The per-coupling bound of `coupling_scale_bound="auto"` at `depth` steps."""
    return min(COUPLING_SCALE_BOUND, LEVEL_SCALE_BOUND / depth)


def flow_step(
    x,
    hidden_channels=512,
    coupling="additive",
    permutation="random",
    coupling_scale="tanh",
    coupling_scale_bound=COUPLING_SCALE_BOUND,
    actnorm_data_init=False,
    conv1x1_data_init=False,
    net_input_bound=NET_INPUT_BOUND,
    net_output_scale=NET_OUTPUT_SCALE,
    net_actnorm=False,
    remat=False,
    add_logdet_to_loss=True,
    seed=None,
    name=None,
):
    """One step of flow on `x` `(batch, H, W, C)`: Actnorm -> permutation -> Split ->
    coupling -> Concat. Arguments as in `Glow`; `name` prefixes the layer names."""
    kw = dict(add_logdet_to_loss=add_logdet_to_loss, dtype=FLOW_DTYPE)
    x = L.Actnorm(data_init=actnorm_data_init, name=named(name, "actnorm"), **kw)(x)
    if permutation == "conv1x1":
        conv = dict(seed=seed, data_init=conv1x1_data_init, name=named(name, "conv1x1"))
        x = L.InvConv1x1(**conv, **kw)(x)
    else:
        options = dict(seed=seed, name=named(name, "permute"), dtype=FLOW_DTYPE)
        x = L.Permute(permutation, **options)(x)
    x1, x2 = L.Split(name=named(name, "split"), dtype=FLOW_DTYPE)(x)
    additive = coupling == "additive"
    channels = x2.shape[-1] * (1 if additive else 2)
    net_options = (net_input_bound, net_output_scale, net_actnorm)
    net = conv_net(
        x1.shape[-1], channels, hidden_channels, named(name, "net"), *net_options
    )
    if remat:
        net = Checkpointed(net, name=named(name, "checkpointed"))
    scale = None if additive else coupling_scale
    scaled = dict(scale=scale, log_scale_bound=coupling_scale_bound)
    couple = L.AffineCouple(net, **scaled, name=named(name, "couple"), **kw)
    return L.Concat(name=named(name, "concat"), dtype=FLOW_DTYPE)(couple([x1, x2]))


def flow_level(
    x, depth, split=True, squeeze=True, seed=None, name=None, labels=None, **step_kwargs
):
    """One level on `x` `(batch, H, W, C)`: a Squeeze (unless `squeeze=False`),
    `depth` steps of flow (step `k` seeded `seed + k`), then a prior.

    With `split`, the second half of the channels leaves under a learned prior
    conditioned on the first half (`CondActnorm([x2, x1])`, the original script's
    `split2d`); without, an Actnorm (a learned diagonal prior). With one-hot
    `labels` `(batch, K)`, every prior also reads `label_embedding(labels)`.
    `step_kwargs` go to `flow_step`, `conv1x1_data_init` to the first step only:
    after its rotation and the next Actnorm the channels are uncorrelated on the
    first batch, so later steps' principal axes would be arbitrary. Returns
    `(z_part, x_next)`: the factored-out part flattened to `(batch, D_part)`, and
    the next level's input (or `None`)."""
    if squeeze:  # (B, H, W, C) -> (B, H/2, W/2, 4C)
        x = L.Squeeze(name=named(name, "squeeze"), dtype=FLOW_DTYPE)(x)
    first_data_init = step_kwargs.pop("conv1x1_data_init", False)
    for k in range(depth):
        step_seed = None if seed is None else seed + k
        step = dict(seed=step_seed, conv1x1_data_init=first_data_init and k == 0)
        x = flow_step(x, name=named(name, f"step{k}"), **step, **step_kwargs)
    add = step_kwargs.get("add_logdet_to_loss", True)
    prior = dict(add_logdet_to_loss=add, dtype=FLOW_DTYPE, name=named(name, "prior"))
    x_next, conditions = None, []
    if split:
        x_next, x = L.Split(name=named(name, "split"), dtype=FLOW_DTYPE)(x)
        conditions.append(x_next)
    if labels is not None:
        label = label_embedding(labels, *x.shape[1:3], name=named(name, "label"))
        conditions.append(label)
    if len(conditions) == 2:
        both = keras.layers.Concatenate(name=named(name, "condition"), dtype=FLOW_DTYPE)
        conditions = [both(conditions)]
    if conditions:
        z = L.CondActnorm(**prior)([x, *conditions])
    else:
        data_init = step_kwargs.get("actnorm_data_init", False)
        z = L.Actnorm(data_init=data_init, **prior)(x)
    return L.Flatten(name=named(name, "flatten"), dtype=FLOW_DTYPE)(z), x_next


def glow_flow(x, levels=3, depth=10, seed=None, name=None, labels=None, **step_kwargs):
    """Glow's multi-scale flow on `x` `(batch, H, W, C)`: `levels` x `flow_level`,
    the last without a split, level `i` seeded `seed + i * depth`. Returns the
    flattened latent parts `(batch, D_i)` in level order."""
    parts = []
    for i in range(levels):
        level = dict(split=i < levels - 1, name=named(name, f"level{i}"), labels=labels)
        level["seed"] = None if seed is None else seed + i * depth
        z, x = flow_level(x, depth, **level, **step_kwargs)
        parts.append(z)
    return parts


@register
class Glow(FlowModel):
    """Glow on images in [-1, 1]: `Dequantize`, then the multi-scale flow of
    `glow_flow`; `z` is its parts concatenated, `(batch, H * W * C)`.

    Args:
        input_shape: `(H, W, C)`, `H` and `W` divisible by `2**levels`.
        levels: number of levels `L` (original: 3; the paper: 6 at 256x256).
        depth: steps per level `K` (original: 10; the paper: 32).
        hidden_channels: width of the coupling nets (original: 512).
        coupling: `"additive"` (the original script) or `"affine"`.
        permutation: `"random"` (the original script), `"reverse"` or
            `"conv1x1"` (the paper's invertible 1x1 convolution).
        coupling_scale: `"tanh"`, `"sigmoid"` or `"exp"` (`AffineCouple`'s `scale`).
        coupling_scale_bound: the `"tanh"` scale's bound on `|log scale|` per
            coupling (`AffineCouple`'s `log_scale_bound`; `None`: unbounded);
            `"auto"`: `ln(256) / depth`, at most 3, so that a level's couplings
            together scale a dimension at most 256x (ln 2 at 8 steps a level:
            issue 29's last blow-up, an unbounded chain of e^3 expansions, is
            gone, and shallow Glows keep their room); models saved before
            `"auto"` rebuild with 3.
        actnorm_data_init: initialise every Actnorm from the first batch of
            `fit` (the paper), else at zero (the original script).
        conv1x1_data_init: start each level's first 1x1 convolution from the
            principal axes of its input on the first batch of `fit`
            (`InvConv1x1(data_init=True)`; the others keep their random
            rotations); `False`: every rotation random (the paper; models saved
            before this option). The random draw decided much of how well a run
            trained; this start trains faster and does not depend on it
            (docs/results.md, issue 29).
        net_input_bound: the coupling nets' `nets.SoftClamp` bound; `None`: no
            clamp (how models saved before this option were built).
        net_output_scale: the coupling nets' `nets.OutputScale` start, or `None`.
        net_actnorm: an Actnorm initialised from the first batch after each hidden
            convolution of the coupling nets (openai/glow's nets): faster at 256
            channels, but spikier at 512 (docs/results.md), so off by default.
        n_bits: bits per pixel of the data (1 to 8; the paper: 5 on CelebA-HQ).
        remat: gradient checkpointing of the coupling nets.
        num_classes: `K` for a class-conditional Glow: `fit(x, y)`, `labels` in
            the numpy API, and `predict_class(x)`.
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

    Reference: Kingma & Dhariwal, Glow (2018), arXiv:1807.03039;
    Su, "细水长flow之RealNVP与Glow：流模型的传承与升华" (2018).
    """

    added_arguments = {
        "net_input_bound": None,
        "net_output_scale": None,
        "conv1x1_data_init": False,
        "coupling_scale_bound": COUPLING_SCALE_BOUND,
    }

    def __init__(
        self,
        input_shape=(64, 64, 3),
        levels=3,
        depth=10,
        hidden_channels=512,
        coupling="additive",
        permutation="random",
        coupling_scale="tanh",
        coupling_scale_bound="auto",
        actnorm_data_init=False,
        conv1x1_data_init=True,
        net_input_bound=NET_INPUT_BOUND,
        net_output_scale=NET_OUTPUT_SCALE,
        net_actnorm=False,
        n_bits=8,
        remat=False,
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        config = constructor_arguments(locals())
        input_shape, seed = config["input_shape"], config["seed"]
        check_image_shape(input_shape, "Glow")
        check_sizes("Glow", levels=levels, depth=depth, hidden_channels=hidden_channels)
        if num_classes is not None:
            check_sizes("Glow", minimum=2, num_classes=num_classes)
        bad = input_shape[0] % 2**levels or input_shape[1] % 2**levels
        needs = "height and width divisible by 2**levels (one squeeze per level)"
        reject(bad, "Glow", needs, f"input_shape={input_shape}, levels={levels}")
        for arg, values in CHOICES.items():
            if (value := config[arg]) not in values:
                raise ValueError(
                    f"`Glow` {arg} must be one of {values}. Received: {arg}={value!r}"
                )
        bound = coupling_scale_bound
        if bound == "auto":
            bound = auto_coupling_scale_bound(depth)
        bad = bound is not None and (isinstance(bound, str) or not bound > 0)
        needs = 'coupling_scale_bound > 0, "auto" or None'
        reject(bad, "Glow", needs, f"coupling_scale_bound={coupling_scale_bound!r}")
        check_n_bits(n_bits, "Glow")
        x_in = keras.Input(input_shape, name="x")
        labels = None if num_classes is None else keras.Input((num_classes,), name="y")
        inputs = x_in if labels is None else [x_in, labels]  # y one-hot
        options = dict(seed=seed, name="dequantize", dtype=FLOW_DTYPE)
        x = L.Dequantize(n_bits, (-1.0, 1.0), **options)(x_in)
        steps = ("hidden_channels", "coupling", "permutation", "coupling_scale")
        steps += ("actnorm_data_init", "conv1x1_data_init", "net_input_bound")
        steps += ("net_output_scale", "net_actnorm", "remat")
        step_kwargs = {k: config[k] for k in steps} | {"coupling_scale_bound": bound}
        parts = glow_flow(x, levels, depth, seed, "glow", labels, **step_kwargs)
        z = L.Concat(name="z", dtype=FLOW_DTYPE)(parts) if len(parts) > 1 else parts[0]
        facts = dict(image_shape=input_shape, data_range=(-1.0, 1.0), n_bits=n_bits)
        facts.update(num_classes=num_classes, config=config)
        super().__init__(keras.Model(inputs, z, name="glow_encoder"), **facts, **kwargs)
