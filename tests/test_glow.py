"""Glow-specific tests: architecture, defaults, n_bits, arguments, remat. The
generic model properties (exact log_prob, round trip, temperature on every prior,
data-dependent init, save/load, fit) are in the parametrized model suite."""

import collections
import inspect
import math

import keras
import numpy as np
import pytest
from conftest import randomize, to_numpy

from keras_flows import layers as L
from keras_flows.models import Glow
from keras_flows.models.glow import flow_level, glow_flow
from keras_flows.nets import conv_net

TINY = dict(levels=2, depth=2, hidden_channels=8, seed=0)


def _images(n, shape=(8, 8, 3), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, *shape)).astype("float32")


def _layer_counts(model):
    return collections.Counter(type(layer).__name__ for layer in model.layers)


# ---------------------------------------------------------------- architecture


@pytest.mark.parametrize(
    "permutation, mixing", [("random", "Permute"), ("conv1x1", "InvConv1x1")]
)
def test_structure_of_two_levels_of_two_steps(permutation, mixing):
    model = Glow((8, 8, 3), permutation=permutation, **TINY)
    counts = _layer_counts(model.encoder)
    assert counts["Dequantize"] == 1
    assert counts["Squeeze"] == 2
    assert counts["Actnorm"] == 2 * 2 + 1  # one per step, plus the top prior
    assert counts[mixing] == 4
    assert counts["AffineCouple"] == 4
    assert counts["CondActnorm"] == 1  # one split between two levels
    assert counts["Flatten"] == 2
    assert counts["Split"] == 4 + 1 and counts["Concat"] == 4 + 1


def test_z_is_flat_and_in_level_order():
    model = Glow((8, 8, 3), **TINY)
    randomize(model.encoder, scale=0.1)
    x = _images(4)
    z = model.encode(x)
    assert z.shape == (4, 8 * 8 * 3)
    # Level 0 factors out half of its 4 x 4 x 12 squeezed channels: the first part.
    first = keras.Model(
        model.encoder.inputs, model.encoder.get_layer("glow_level0_flatten").output
    )
    part = first.predict(x, verbose=0)
    assert part.shape == (4, 4 * 4 * 6)
    np.testing.assert_allclose(z[:, : part.shape[1]], part, atol=1e-6)


def test_glow_flow_builds_a_standalone_flow():
    x_in = keras.Input((8, 8, 2))
    parts = glow_flow(x_in, levels=3, depth=1, hidden_channels=4, seed=1)
    assert [p.shape[-1] for p in parts] == [64, 32, 32]
    z, x_next = flow_level(keras.Input((4, 4, 1)), depth=1, hidden_channels=4)
    assert z.shape[-1] == 2 * 2 * 2 and tuple(x_next.shape[1:]) == (2, 2, 2)


def test_defaults_are_the_seed_scripts():
    defaults = {
        name: p.default for name, p in inspect.signature(Glow).parameters.items()
    }
    assert defaults["input_shape"] == (64, 64, 3)
    assert (defaults["levels"], defaults["depth"]) == (3, 10)
    assert defaults["hidden_channels"] == 512
    assert defaults["coupling"] == "additive"
    assert defaults["permutation"] == "random"
    assert defaults["actnorm_data_init"] is False
    assert defaults["n_bits"] == 8
    # The seed's coupling net: Conv3x3 -> ReLU -> Conv1x1 -> ReLU -> Conv3x3(zeros).
    net = conv_net(6, 6)
    convs = [layer for layer in net.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.kernel_size for c in convs] == [(3, 3), (1, 1), (3, 3)]
    assert [c.filters for c in convs] == [512, 512, 6]
    assert [c.activation.__name__ for c in convs] == ["relu", "relu", "linear"]
    assert not np.any(to_numpy(convs[-1].kernel))


def test_config_holds_the_constructor_arguments():
    model = Glow((8, 8, 3), coupling="affine", n_bits=5, name="g", **TINY)
    config = model.get_config()
    arguments = set(inspect.signature(Glow).parameters) - {"kwargs"}
    assert set(config) == arguments | {"name"}
    assert Glow.from_config(config).get_config() == config


def test_a_config_saved_before_the_stability_options_builds_its_nets_as_then():
    """Run folders written before the nets' input clamp and output scale, the
    couplings' scale bound and the 1x1 convolutions' data init (issue 29) hold
    configs without them: they rebuild the nets, couplings and rotations they
    trained."""
    config = Glow((8, 8, 1), coupling="affine", permutation="conv1x1",
                  **TINY).get_config()  # fmt: skip
    now = Glow.from_config(config)
    added = ("net_input_bound", "net_output_scale", "coupling_scale_bound")
    for key in (*added, "conv1x1_data_init"):
        del config[key]
    then = Glow.from_config(config)
    old = then.get_config()
    assert (old["net_input_bound"], old["net_output_scale"]) == (None, None)
    convs = [layer for layer in then.encoder.layers
             if isinstance(layer, L.InvConv1x1)]  # fmt: skip
    assert convs and not any(conv.data_init for conv in convs)
    assert not then.needs_initialization and now.needs_initialization
    bounds = {layer.log_scale_bound for layer in then.encoder.layers
              if isinstance(layer, L.AffineCouple)}  # fmt: skip
    assert bounds == {3.0}

    def kinds(model):
        nets = [layer.shift_model for layer in model.encoder.layers
                if isinstance(layer, L.AffineCouple)]  # fmt: skip
        return {type(layer).__name__ for net in nets for layer in net.layers}

    assert {"SoftClamp", "OutputScale"} <= kinds(now)
    assert not {"SoftClamp", "OutputScale"} & kinds(then)


def test_a_scaled_net_starts_at_zero_and_its_scale_learns():
    net = conv_net(2, 4, hidden_channels=8, output_scale=0.1)
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 2)).astype("float32")
    assert not np.any(to_numpy(net(x)))  # the coupling starts as the identity
    scale = net.layers[-1]
    np.testing.assert_array_equal(to_numpy(scale.scale), np.full(4, 0.1, "float32"))
    net.compile(keras.optimizers.Adam(1e-2), loss="mse")
    net.fit(x, np.ones((3, 4, 4, 4), "float32"), epochs=3, verbose=0)
    assert np.all(to_numpy(scale.scale) != np.float32(0.1))
    with pytest.raises(ValueError, match="initial > 0"):
        conv_net(2, 4, hidden_channels=8, output_scale=0.0)


def test_net_actnorm_standardises_each_hidden_layer_of_the_first_batch(tmp_path):
    """With `net_actnorm`, each hidden convolution of a coupling net is followed by
    an Actnorm that the data-dependent initialisation sets from the first batch,
    in order, as openai/glow's nets; the coupling still starts as the identity,
    and a saved model is not initialised again."""
    from keras_flows.graph import initialize

    model = Glow((8, 8, 3), coupling="affine", actnorm_data_init=True,
                 net_actnorm=True, **TINY)  # fmt: skip
    x = _images(32) * 0.3 + 0.2
    assert model.needs_initialization
    initialize(model.encoder, x)
    assert not model.needs_initialization
    couples = [op for op in model.encoder.operations if isinstance(op, L.AffineCouple)]
    x1s = keras.Model(model.encoder.input, [c.input[0] for c in couples])(x)
    for couple, x1 in zip(couples, x1s):
        net = couple.shift_model
        norms = [layer for layer in net.layers if isinstance(layer, L.Actnorm)]
        assert len(norms) == 2 and not any(n.add_logdet_to_loss for n in norms)
        hidden = keras.Model(net.inputs[0], [norm.output for norm in norms])(x1)
        for h in map(to_numpy, hidden):
            np.testing.assert_allclose(h.mean(axis=(0, 1, 2)), 0, atol=1e-4)
            np.testing.assert_allclose(h.std(axis=(0, 1, 2)), 1, atol=1e-2)
        assert not np.any(to_numpy(net(x1)))  # the coupling starts as the identity
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert not loaded.needs_initialization
    np.testing.assert_allclose(loaded.log_prob(x), model.log_prob(x), rtol=1e-5)


@pytest.mark.parametrize("depth, bound", [(1, 3.0), (4, math.log(4)), (8, math.log(2))])
def test_the_auto_bound_lets_each_level_scale_a_dimension_at_most_256x(depth, bound):
    """`coupling_scale_bound="auto"` (the default) bounds each coupling at
    ln(256) / depth, at most 3; the config keeps "auto"."""
    model = Glow((8, 8, 1), levels=1, depth=depth, hidden_channels=4,
                 coupling="affine", seed=0)  # fmt: skip
    bounds = {layer.log_scale_bound for layer in model.encoder.layers
              if isinstance(layer, L.AffineCouple)}  # fmt: skip
    assert len(bounds) == 1 and bounds.pop() == pytest.approx(bound)
    assert model.get_config()["coupling_scale_bound"] == "auto"


def test_conv1x1_data_init_starts_each_levels_first_rotation_from_the_data():
    """With `conv1x1_data_init` (the default), each level's first 1x1
    convolution starts from the principal axes of what it reads on the first
    batch (its channels come out uncorrelated, by decreasing variance); the
    others keep their random rotations, as without it."""
    from keras_flows.graph import initialize

    options = dict(coupling="affine", permutation="conv1x1", actnorm_data_init=True)
    model = Glow((8, 8, 3), **options, **TINY)
    plain = Glow((8, 8, 3), conv1x1_data_init=False, **options, **TINY)
    x = _images(32) * 0.3 + 0.2
    initialize(model.encoder, x)
    convs = [op for op in model.encoder.operations if isinstance(op, L.InvConv1x1)]
    firsts = [conv for conv in convs if "step0_" in conv.name]
    assert [conv.data_init for conv in convs] == [conv in firsts for conv in convs]
    outputs = keras.Model(model.encoder.input, [conv.output for conv in firsts])(x)
    for y in outputs:
        cov = np.cov(to_numpy(y).reshape(-1, y.shape[-1]).T)
        scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
        np.testing.assert_allclose((cov - np.diag(np.diag(cov))) / scale, 0, atol=1e-4)
        assert np.all(np.diff(np.diag(cov)) < 0)
    others = [(conv, plain.encoder.get_layer(conv.name)) for conv in convs
              if conv not in firsts]  # fmt: skip
    for conv, same in others:
        np.testing.assert_array_equal(to_numpy(conv.kernel()), to_numpy(same.kernel()))


def _parameter_count(input_shape, levels, depth, hidden, scale=False, actnorm=False):
    """The seed's trainable parameters, counted by hand (`scale`: the nets end
    in an `OutputScale`, one weight per output channel; `actnorm`: their hidden
    convolutions have no bias but an Actnorm each, two weights per channel)."""
    h, w, c = input_shape
    total = 0
    for i in range(levels):
        c *= 4  # squeeze
        half = c // 2
        net = (9 * half + 1) * hidden + (hidden + 1) * hidden + (9 * hidden + 1) * half
        net += half if scale else 0
        net += 2 * hidden if actnorm else 0  # 2 x (2 Actnorm weights - 1 bias)
        total += depth * (net + 2 * c)  # coupling net + Actnorm
        if i < levels - 1:
            total += 9 * half * c + c  # CondActnorm's conv: x1 -> (ls, sh)
            c = half
    return total + 2 * c  # the top Actnorm


def test_parameter_count_matches_the_seed_architecture():
    model = Glow((16, 16, 1), levels=3, depth=2, hidden_channels=8)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert trainable == _parameter_count((16, 16, 1), 3, 2, 8, scale=True)
    seed_nets = Glow((16, 16, 1), levels=3, depth=2, hidden_channels=8,
                     net_output_scale=None)  # fmt: skip
    trainable = sum(math.prod(w.shape) for w in seed_nets.trainable_weights)
    assert trainable == _parameter_count((16, 16, 1), 3, 2, 8)
    normed = Glow((16, 16, 1), levels=3, depth=2, hidden_channels=8, net_actnorm=True)
    trainable = sum(math.prod(w.shape) for w in normed.trainable_weights)
    assert trainable == _parameter_count((16, 16, 1), 3, 2, 8, scale=True, actnorm=True)
    # The seed script's model, 64x64x3, L=3, K=10, 512 channels (building it
    # takes ~20 s; `Glow().count_params()` adds the 31 Actnorm init flags).
    assert _parameter_count((64, 64, 3), 3, 10, 512) == 11_771_232


# ------------------------------------------------------------------- n_bits


def test_dequantize_snaps_to_the_n_bit_grid_while_training():
    layer = L.Dequantize(n_bits=5, data_range=(-1.0, 1.0), seed=0)
    width = 2 / 32
    x = np.concatenate(
        [_images(16, (8,), seed=1), np.array([[-1, 1, 0, width - 1] * 2], "float32")]
    )
    y = to_numpy(layer(x, training=True))
    level = np.clip(np.floor((x + 1) / width + 1e-4), 0, 31)
    q = -1 + level * width
    assert np.all(y >= q - 1e-6) and np.all(y < q + width)
    assert np.all((y >= -1) & (y < 1))
    assert len(np.unique(np.floor((y + 1) / width))) <= 32
    np.testing.assert_array_equal(to_numpy(layer(x)), x)  # inference: identity


# The four ways users scale 8-bit values k: each lands in its own level.
SCALINGS = {
    "k/127.5-1": ((-1.0, 1.0), lambda k: k / 127.5 - 1),
    "k/128-1": ((-1.0, 1.0), lambda k: k / 128 - 1),
    "k/255": ((0.0, 1.0), lambda k: k / 255),
    "(k+0.5)/256": ((0.0, 1.0), lambda k: (k + 0.5) / 256),
}


@pytest.mark.parametrize("scaling", SCALINGS)
def test_8_bit_values_land_in_their_own_level_in_training_and_scoring(scaling):
    """Training noise (`Dequantize`) and held-out points (`dequantize_data`, as
    `bits_per_dim` takes them) put value `k` in level `k`, `[low + k w,
    low + (k + 1) w)`, inside `data_range`, however the 8-bit data were scaled."""
    from keras_flows.models.base import dequantize_data

    data_range, scale = SCALINGS[scaling]
    low, high = data_range
    width = (high - low) / 256
    k = np.arange(256, dtype="float32")
    x = np.repeat(scale(k)[None].astype("float32"), 4, axis=0)  # (4, 256)
    layer = L.Dequantize(n_bits=8, data_range=data_range, seed=0)
    for y in (to_numpy(layer(x, training=True)), dequantize_data(x, data_range)[0]):
        level = np.floor((y.astype("float64") - low) / width)
        np.testing.assert_array_equal(level, np.broadcast_to(k, y.shape))
        assert np.all((y >= low) & (y < high))


def test_n_bits_quantisation_agrees_with_bits_per_dim():
    """`bits_per_dim` scores the training layer's `snap(x)` plus its one seeded
    draw of noise; with `dequantize=False` it scores the points as given."""
    model = Glow((8, 8, 3), n_bits=5, **TINY)
    randomize(model.encoder, scale=0.1)
    assert model.n_bits == 5
    dequantize = model.encoder.get_layer("dequantize")
    assert dequantize.n_bits == 5
    x = _images(3)
    dims, width = x[0].size, 2 / 32
    q = to_numpy(dequantize.snap(x)).astype("float64")
    points = (q + np.random.default_rng(0).uniform(0, width, x.shape)).astype("float32")
    expected = (-model.log_prob(points) - dims * np.log(width)) / (dims * np.log(2))
    np.testing.assert_allclose(model.bits_per_dim(x), expected, rtol=1e-5)
    np.testing.assert_allclose(
        model.bits_per_dim(points, dequantize=False), expected, rtol=1e-5
    )


# -------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(input_shape=(28, 28, 1), levels=3), "divisible by 2\\*\\*levels"),
        (dict(input_shape=(8, 8)), "input_shape=\\(height, width, channels\\)"),
        (dict(coupling="multiplicative"), "coupling must be one of"),
        (dict(permutation="shuffle"), "permutation must be one of"),
        (dict(coupling_scale="softplus"), "coupling_scale must be one of"),
        (dict(coupling_scale_bound=0.0), 'coupling_scale_bound > 0, "auto" or None'),
        (dict(coupling_scale_bound="ln2"), 'coupling_scale_bound > 0, "auto" or None'),
        (dict(levels=0), "levels >= 1"),
        (dict(depth=0), "depth >= 1"),
        (dict(hidden_channels=0), "hidden_channels >= 1"),
        (dict(n_bits=0), "n_bits between 1 and 8"),
        (dict(n_bits=9), "n_bits between 1 and 8"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, match):
    kwargs = {"input_shape": (8, 8, 3), "levels": 1, "depth": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        Glow(**kwargs)


def test_affine_couple_rejects_bad_scale_and_shared_net_width():
    with pytest.raises(ValueError, match="scale must be one of"):
        L.AffineCouple(keras.layers.Dense(3), scale="softplus")
    couple = L.AffineCouple(keras.layers.Dense(3), scale="sigmoid")
    with pytest.raises(ValueError, match="twice the channels of x2"):
        couple([np.zeros((1, 3), "float32"), np.zeros((1, 3), "float32")])


# --------------------------------------------------------------------- remat


@pytest.mark.slow
def test_remat_trains_the_same_model(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 1)).astype("float32")
    weights = []
    for remat in (False, True):
        keras.utils.set_random_seed(0)
        model = Glow((8, 8, 1), levels=2, depth=1, hidden_channels=8, remat=remat)
        model.compile(keras.optimizers.SGD(0.1))
        model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, atol=1e-5)
    model.save(tmp_path / "remat.keras")
    loaded = keras.models.load_model(tmp_path / "remat.keras")
    np.testing.assert_allclose(loaded.log_prob(x[:2]), model.log_prob(x[:2]), atol=1e-5)
