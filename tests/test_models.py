"""One parametrized suite over every model class and variant.

Each case is a small configuration whose weights are pushed off the identity, so
zero-initialised parts (Actnorm, the last layer of coupling nets) are tested too.
Adding a model is adding one `Case`. Model-specific facts (parameter counts, the
book's masks, TFP oracles) stay in the model's own test file.
"""

import dataclasses
import functools
from collections.abc import Callable

import keras
import numpy as np
import pytest
from conftest import BACKEND, batch_jacobian, to_numpy
from keras import ops

from keras_flows import layers as L
from keras_flows import viz
from keras_flows.models import FVAE, NICE, FlowModel, Glow, RealNVP
from keras_flows.models.base import LOG_2PI
from keras_flows.nets import mlp
from keras_flows.training.precision import float32_copy, policy_scope, precision_of


def _uniform(shape, low=0.0, high=1.0, levels=256):
    """Data on an 8-bit grid in [low, high), like real images."""

    def make(n, seed):
        rng = np.random.default_rng(seed)
        k = rng.integers(0, levels, size=(n, *shape))
        return (low + (high - low) * k / levels).astype("float32")

    return make


def _moons(n, seed):
    from keras_flows.data import load_moons

    return load_moons(n, 0.05, seed=seed)[0]


def _volume_preserving():
    """A flow with no log-det at all: a user's `Squeeze -> Permute`."""
    x_in = keras.Input((4, 4, 1))
    z = L.Permute("reverse")(L.Squeeze()(x_in))
    return FlowModel(keras.Model(x_in, z), image_shape=(4, 4, 1), data_range=(-1, 1))


def _glow_step(x, seed):
    x = L.Actnorm(data_init=True)(x)
    x = L.InvConv1x1(seed=seed)(x)
    x1, x2 = L.Split()(x)
    channels = x1.shape[-1]
    shift = keras.Sequential(
        [keras.layers.Conv2D(8, 3, padding="same", activation="relu")]
        + [keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros")]
    )
    scale = keras.Sequential(
        [keras.layers.Conv2D(8, 3, padding="same", activation="relu")]
        + [keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros")]
    )
    x1, x2 = L.AffineCouple(shift, scale)([x1, x2])
    return L.Concat()([x1, x2])


def _layers_glow():
    """A user's multi-scale flow from layers: data-dependent Actnorm, 1x1 conv,
    affine coupling, a learned prior on the factored-out half."""
    x_in = keras.Input((4, 4, 2))
    x = L.UniformNoise(0.0, 2 / 256, seed=0)(x_in)
    x = L.Squeeze()(x)  # (2, 2, 8)
    x = _glow_step(x, seed=1)
    x1, x2 = L.Split()(x)
    x2 = L.CondActnorm()([x2, x1])
    x1 = _glow_step(x1, seed=2)
    z = L.Concat()([L.Flatten()(x2), L.Flatten()(L.Actnorm()(x1))])
    return FlowModel(keras.Model(x_in, z), image_shape=(4, 4, 2), data_range=(-1, 1))


def _vector_flow():
    """A user's NICE-like vector flow with a Scale and random shuffles."""
    x_in = keras.Input((6,))
    x = x_in
    for k in range(2):
        x = L.Shuffle("random", seed=k)(x)
        x1, x2 = L.SplitVector()(x)
        x1, x2 = L.AddCouple()([x1, x2, mlp(3, 3, 8, 1)(x1)])
        x = L.ConcatVector()([x1, x2])
    return FlowModel(keras.Model(x_in, L.Scale()(x)))


@dataclasses.dataclass
class Case:
    id: str
    make: Callable  # () -> FlowModel (or FVAE, which has its API)
    data: Callable  # (n, seed) -> float32 data in the model's range
    trains: bool = True  # has trainable weights
    # log_prob is the exact change of variables and decode inverts encode; False
    # for FVAE (log_prob is a bound, reconstruction is lossy: tests/test_fvae.py).
    exact: bool = True
    # A variant of a model another case covers: its training and saving (the
    # costly checks) run in the full tier only; its maths in both tiers.
    variant: bool = False


def _affine_glow(**changes):
    """The paper's Glow (affine, LU 1x1 conv, data init) at its smallest."""
    return Glow((4, 4, 3), levels=2, depth=1, hidden_channels=8, coupling="affine",
                permutation="conv1x1", actnorm_data_init=True, seed=0,
                **changes)  # fmt: skip


CASES = [
    Case(
        "nice",
        lambda: NICE(input_dim=8, hidden_units=16, hidden_layers=2, seed=0),
        _uniform((8,)),
    ),
    Case(
        "nice_dequantize",
        lambda: NICE(input_dim=8, hidden_units=16, hidden_layers=1, noise="dequantize"),
        _uniform((8,)),
        variant=True,
    ),
    Case("realnvp", lambda: RealNVP(coupling_layers=2, coupling_dim=16), _moons),
    Case(
        "glow_additive_random",
        lambda: Glow((8, 8, 1), levels=2, depth=2, hidden_channels=8, seed=0),
        _uniform((8, 8, 1), -1.0, 1.0),
        variant=True,
    ),
    Case("glow_affine_conv1x1", _affine_glow, _uniform((4, 4, 3), -1.0, 1.0)),
    Case(
        "glow_net_actnorm",
        functools.partial(_affine_glow, net_actnorm=True),
        _uniform((4, 4, 3), -1.0, 1.0),
        variant=True,
    ),
    Case(
        "glow_random_rotations",
        functools.partial(_affine_glow, conv1x1_data_init=False),
        _uniform((4, 4, 3), -1.0, 1.0),
        variant=True,
    ),
    Case(
        "glow_5bit",
        lambda: Glow((4, 4, 1), levels=1, depth=2, hidden_channels=8, n_bits=5),
        _uniform((4, 4, 1), -1.0, 1.0, levels=32),
        variant=True,
    ),
    Case(
        "layers_vector",
        _vector_flow,
        lambda n, s: _moons(n, s).repeat(3, axis=1),
        variant=True,
    ),
    Case("layers_glow", _layers_glow, _uniform((4, 4, 2), -1.0, 1.0)),
    Case(
        "layers_volume_preserving",
        _volume_preserving,
        _uniform((4, 4, 1), -1.0, 1.0),
        trains=False,
    ),
    Case(
        "fvae",
        lambda: FVAE(
            (8, 8, 3),
            encoder_levels=1,
            encoder_blocks=1,
            flow_levels=2,
            flow_depth=1,
            hidden_channels=8,
            seed=0,
        ),
        _uniform((8, 8, 3), -1.0, 1.0),
        exact=False,
    ),
    Case(
        "fvae_plain_vae_5bit",
        lambda: FVAE(
            (8, 8, 1), encoder_levels=1, encoder_blocks=1, flow_depth=0, n_bits=5
        ),
        _uniform((8, 8, 1), -1.0, 1.0, levels=32),
        exact=False,
        variant=True,
    ),
]


def _push_off_identity(model, data, scale=0.05, seed=0):
    """Runs data-dependent init, then adds N(0, scale^2) to every weight."""
    if model.needs_initialization:
        from keras_flows.graph import initialize

        initialize(model.encoder, data(32, 99))
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        value = ops.convert_to_numpy(w)
        w.assign(value + scale * rng.standard_normal(value.shape).astype("float32"))


# The costly checks (training, saving) of a variant run in the full tier only.
COSTLY = [
    pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.variant else [])
    for c in CASES
]


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def case(request):
    return request.param


@pytest.fixture(scope="module")
def model(case):
    """One model per case, shared by the tests that only read it (their compiled
    predict functions are reused): a test that trains builds its own."""
    keras.utils.set_random_seed(0)
    model = case.make()
    _push_off_identity(model, case.data)
    return model


def _flat_dim(model):
    return int(np.prod(model.encoder.inputs[0].shape[1:]))


def test_log_prob_is_the_change_of_variables(case, model):
    if not case.exact:
        pytest.skip("log_prob is a bound, not a change of variables")
    _assert_change_of_variables(model, case.data(2, 1))


def _assert_change_of_variables(model, x):
    """`log_prob(x)` per sample = log N(f(x)) + log|det df/dx| (autodiff)."""
    shape = x.shape[1:]
    log_prob = model.log_prob(x)
    assert log_prob.shape == (len(x),)

    def encode(v):
        z = model.encoder(ops.reshape(v, (-1, *shape)))
        return ops.reshape(z, (ops.shape(v)[0], -1))

    jac = batch_jacobian(encode, x.reshape(len(x), -1))
    z = model.encode(x).reshape(len(x), -1).astype("float64")
    expected = (
        -0.5 * np.sum(z**2, axis=1)
        - 0.5 * z.shape[1] * LOG_2PI
        + np.linalg.slogdet(jac.astype("float64"))[1]
    )
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-3)


def test_encode_decode_round_trip(case, model):
    if not case.exact:
        pytest.skip("the reconstruction is lossy")
    x = case.data(16, 2)
    np.testing.assert_allclose(model.reconstruct(x), x, atol=1e-4)
    z = model.encode(x)
    np.testing.assert_allclose(model.encode(model.decode(z)), z, atol=1e-4)


# Latent manipulation is the base class's too: the f-VAE in the fast tier.
@pytest.mark.fast_cases("fvae")
def test_manipulation_moves_codes_along_a_latent_direction(case, model):
    x, group = case.data(3, 15), case.data(4, 16)
    direction = model.latent_direction(group, x)
    expected = model.encode(group).mean(axis=0) - model.encode(x).mean(axis=0)
    np.testing.assert_allclose(direction, expected, atol=1e-6)

    def clipped(v):
        return v if model.data_range is None else np.clip(v, *model.data_range)

    moved = model.manipulate(x, direction, strengths=(0.0, 1.0))
    assert moved.shape == (3, 2, *model.sample_shape)
    np.testing.assert_allclose(moved[:, 0], clipped(model.reconstruct(x)), atol=1e-5)
    shifted = model.decode(model.encode(x) + direction)
    np.testing.assert_allclose(moved[:, 1], clipped(shifted), atol=1e-5)
    one = model.manipulate(x[0], direction, strengths=(1.0,))
    np.testing.assert_allclose(one[0], moved[0, 1], atol=1e-6)
    with pytest.raises(ValueError, match="direction of the latent's shape"):
        model.manipulate(x, direction[..., :1])


# The interpolations are the base class's, the same code for every model: the
# f-VAE in the fast tier, the flows in the full tier.
@pytest.mark.fast_cases("fvae")
def test_interpolations_are_straight_lines_in_the_latent(case, model):
    x_a, x_b = case.data(2, 12), case.data(2, 13)
    path = model.interpolate(x_a, x_b, steps=5)
    assert path.shape == (2, 5, *model.sample_shape)
    np.testing.assert_allclose(path[:, 0], model.reconstruct(x_a), atol=1e-5)
    np.testing.assert_allclose(path[:, -1], model.reconstruct(x_b), atol=1e-5)
    # The midpoint is decoded from the midpoint of the codes.
    z_mid = 0.5 * (model.encode(x_a) + model.encode(x_b))
    np.testing.assert_allclose(path[:, 2], model.decode(z_mid), atol=1e-5)
    one = model.interpolate(x_a[0], x_b[0], steps=5)  # one pair
    np.testing.assert_allclose(one, path[0], atol=1e-6)

    corners = case.data(4, 14)
    grid = model.interpolate_corners(*corners, steps=5)
    assert grid.shape == (5, 5, *model.sample_shape)
    recon = model.reconstruct(corners)
    for (i, j), k in {(0, 0): 0, (0, 4): 1, (4, 0): 2, (4, 4): 3}.items():
        np.testing.assert_allclose(grid[i, j], recon[k], atol=1e-5)
    # The top edge is the straight line between the top corners...
    np.testing.assert_allclose(
        grid[0], model.interpolate(corners[0], corners[1], steps=5), atol=1e-5
    )
    # ...and the centre is decoded from the mean of the four codes.
    centre = model.decode(model.encode(corners).mean(axis=0, keepdims=True))[0]
    np.testing.assert_allclose(grid[2, 2], centre, atol=1e-5)
    # Batches of corners: one grid each.
    batch = model.interpolate_corners(*(c[None].repeat(2, 0) for c in corners), steps=3)
    assert batch.shape == (2, 3, 3, *model.sample_shape)
    np.testing.assert_allclose(batch[1, 0, 0], recon[0], atol=1e-5)
    with pytest.raises(ValueError, match="steps >= 2"):
        model.interpolate_corners(*corners, steps=1)
    with pytest.raises(ValueError, match="same shape"):
        model.interpolate_corners(*corners[:3], corners[:2])


def test_sample_shape_range_and_temperature(case, model):
    x = model.sample(6, temperature=0.7, seed=3)
    assert x.shape == (6, *model.encoder.inputs[0].shape[1:])
    assert np.isfinite(x).all()
    if model.data_range is not None:
        assert x.min() >= model.data_range[0] and x.max() <= model.data_range[1]
    # The latent draw is N(0, T^2): the same seed at T gives T times the noise.
    rng = np.random.default_rng(3)
    eps = rng.standard_normal((6, *model.decoder.inputs[0].shape[1:]))
    expected = model.decode((0.7 * eps).astype("float32"))
    if model.data_range is not None:
        expected = np.clip(expected, *model.data_range)
    np.testing.assert_allclose(x, expected, atol=1e-5)


def test_zero_temperature_decodes_the_prior_mode(case, model):
    x = model.sample(3, temperature=0.0, seed=1)
    np.testing.assert_allclose(x, model.sample(3, temperature=0, seed=7))
    zeros = [np.zeros((3, *z.shape[1:]), "float32") for z in model.decoder.inputs]
    mode = model.decode(zeros[0] if len(zeros) == 1 else zeros)
    if model.data_range is not None:
        mode = np.clip(mode, *model.data_range)
    np.testing.assert_allclose(x, mode, atol=1e-6)


def test_negative_temperature_is_refused(case, model):
    with pytest.raises(ValueError, match="temperature"):
        model.sample(2, temperature=-0.5)
    if model.image_shape is not None:
        with pytest.raises(ValueError, match="temperature"):
            viz.sample_grid(model, 2, 2, temperature=-1)
        with pytest.raises(ValueError, match="temperature"):
            viz.temperature_sweep(model, temperatures=(0.5, -1))


@pytest.mark.parametrize("case", COSTLY)
def test_fit_lowers_the_loss_then_the_model_saves_and_loads(case, tmp_path):
    keras.utils.set_random_seed(1)
    model = case.make()
    # Eager on TensorFlow: 6 steps of a tiny model cost less than tracing them
    # (graph-mode fit: the layer suite, the variants, the CLI and notebook runs).
    model.compile(keras.optimizers.Adam(3e-3), run_eagerly=BACKEND == "tensorflow")
    x = case.data(64, 4)
    if case.trains:
        history = model.fit(x, batch_size=32, epochs=3, verbose=0)
        loss = history.history["loss"]
        assert np.isfinite(loss).all() and loss[-1] < loss[0]
        assert not model.needs_initialization  # initialised from the first batch
    nll = -model.log_prob(x).mean()
    if case.exact:  # the loss is the NLL
        np.testing.assert_allclose(
            model.evaluate(x, batch_size=64, verbose=0), nll, rtol=1e-5, atol=1e-4
        )
    else:  # both are noisy estimates of a bound
        assert np.isfinite(nll) and np.isfinite(model.evaluate(x, verbose=0))
    # The trained model saves and reloads whole; its Actnorm init is not redone.
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model)
    assert not loaded.needs_initialization
    np.testing.assert_allclose(loaded.log_prob(x[:5]), model.log_prob(x[:5]), atol=1e-5)
    np.testing.assert_allclose(
        loaded.sample(4, 0.8, seed=2), model.sample(4, 0.8, seed=2), atol=1e-5
    )


def test_bits_per_dim_is_consistent_with_log_prob(case, model):
    x = case.data(4, 5)
    if model.data_range is None:
        with pytest.raises(ValueError, match="data_range"):
            model.bits_per_dim(x)
        return
    low, high = model.data_range
    dims = _flat_dim(model)
    width = (high - low) / 2**model.n_bits
    expected = (-model.log_prob(x) - dims * np.log(width)) / (dims * np.log(2))
    np.testing.assert_allclose(model.bits_per_dim(x, dequantize=False), expected)
    u = np.random.default_rng(1).uniform(0, width, x.shape)
    expected = (-model.log_prob((x + u).astype("float32")) - dims * np.log(width)) / (
        dims * np.log(2)
    )
    np.testing.assert_allclose(model.bits_per_dim(x, seed=1), expected, rtol=1e-6)


def test_generic_code_calls_every_model_alike(case, model):
    """What generic code (the recipes' held-out scoring) passes, every model
    takes: labels second, the rest by keyword; labels to an unconditional
    model are refused with the model's name."""
    from keras_flows.recipes.common import held_out_likelihood

    x = case.data(4, 5)
    if model.data_range is not None:
        numbers = held_out_likelihood(model, x)
        assert np.isfinite(numbers["test_bits_per_dim"])
    for method in (model.log_prob, model.reconstruct):
        with pytest.raises(ValueError, match="not class-conditional"):
            method(x, 1)


@pytest.mark.parametrize("model_class", [NICE, RealNVP, Glow, FVAE])
def test_overrides_keep_the_base_signature(model_class):
    """A subclass's override of a `GenerativeModel` method takes the base's
    positional parameters, in order; what it adds is keyword-only."""
    import inspect

    from keras_flows.models.base import GenerativeModel

    for name, base in vars(GenerativeModel).items():
        if name.startswith("_") or not inspect.isfunction(base):
            continue
        own = getattr(model_class, name)
        if own is base:
            continue

        def positional(f):
            return [
                p.name
                for p in inspect.signature(f).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]

        assert positional(own) == positional(base), f"{model_class.__name__}.{name}"


def test_fit_rejects_bad_data(case, model):
    model.compile("adam")
    x = case.data(8, 6)
    x.reshape(-1)[3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        model.fit(x, verbose=0)
    with pytest.raises(ValueError, match="expects samples of shape"):
        model.log_prob(np.zeros((2, 3), "float32"))


CORE = [c for c in CASES if not c.variant]


# bfloat16 for every model; float16 (Keras' loss scaling, the same for every
# model) on the Glow with the most float32-kept parts.
LOW_PRECISION = [(c, "bfloat16") for c in CORE] + [
    (c, "float16") for c in CORE if c.id == "glow_affine_conv1x1"
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, precision", LOW_PRECISION, ids=[f"{c.id}-{p}" for c, p in LOW_PRECISION]
)
def test_low_precision_training_then_exact_float32_evaluation(case, precision):
    keras.utils.set_random_seed(2)
    with policy_scope(precision):
        model = case.make()
        model.compile(keras.optimizers.Adam(1e-3))
    assert precision_of(model) == precision
    x = case.data(64, 7)
    if case.trains:
        history = model.fit(x, batch_size=32, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
    if case.exact:  # the log-dets stay float32 in the low-precision model
        *_, log_det = model.log_det_model.predict(x[:4], verbose=0)
        assert log_det.dtype == np.float32
    exact = float32_copy(model)
    assert precision_of(exact) == "float32"
    for a, b in zip(exact.weights_model.weights, model.weights_model.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    if case.exact:  # float32 exactness of the low-precision-trained weights
        np.testing.assert_allclose(exact.reconstruct(x[:8]), x[:8], atol=1e-4)
        _assert_change_of_variables(exact, x[:2])
    else:
        assert np.isfinite(exact.log_prob(x[:4])).all()


# Arrays: the fit test above (glow_affine_conv1x1, layers_glow).
INPUT_KINDS = ["array", "py_dataset", "generator", "tf_data"]


def _first_batch_inputs():
    """Every kind of input `fit` accepts, each yielding the same first batch."""
    x = _uniform((4, 4, 2), -1.0, 1.0)(64, 8)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[16 * i : 16 * (i + 1)]

    def generator():
        for i in range(4):
            yield (x[16 * i : 16 * (i + 1)],)

    inputs = {"array": x, "py_dataset": Batches(), "generator": generator()}
    if BACKEND in ("tensorflow", "jax"):
        import tensorflow as tf

        inputs["tf_data"] = tf.data.Dataset.from_tensor_slices(x).batch(16)
    return x, inputs


@pytest.mark.parametrize(
    "kind",
    [pytest.param(k, marks=pytest.mark.slow) for k in INPUT_KINDS],
)
def test_data_dependent_init_runs_once_for_every_input_type(kind, tmp_path):
    x, inputs = _first_batch_inputs()
    model = _layers_glow()
    first_actnorm = next(
        op for op in model.encoder.operations if op.name.startswith("actnorm")
    )
    assert model.needs_initialization
    model.compile(keras.optimizers.SGD(0.0))  # keeps the initial values
    model.fit(inputs[kind], batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert not model.needs_initialization
    # The first Actnorm standardises the first batch, per channel.
    squeezed = ops.convert_to_numpy(L.Squeeze()(x[:16]))
    y = ops.convert_to_numpy(first_actnorm(squeezed))
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=1e-3)
    # Reloaded weights are never initialised again.
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert not loaded.needs_initialization


INITIALISED = [c for c in CASES if c.id in ("glow_affine_conv1x1", "layers_glow")]


@pytest.mark.parametrize("case", INITIALISED, ids=[c.id for c in INITIALISED])
def test_data_dependent_init_standardises_every_actnorm(case):
    """Each data-init Actnorm (every step, the priors) is initialised in order,
    so its output on the first batch has zero mean and unit std per channel."""
    from keras_flows.graph import initialize

    model = case.make()
    x = case.data(32, 9) * 0.3 + 0.2  # far from zero mean, unit std
    data_init = [op for op in model.encoder.operations if getattr(op, "data_init", 0)]
    actnorms = [op for op in data_init if isinstance(op, L.Actnorm)]
    assert initialize(model.encoder, x) == len(data_init) and len(actnorms) > 1
    outputs = keras.Model(model.encoder.inputs, [a.output for a in actnorms])
    for y in outputs.predict(x, verbose=0):
        axes = tuple(range(y.ndim - 1))
        np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-4)
        np.testing.assert_allclose(y.std(axis=axes), 1, atol=1e-3)
    assert initialize(model.encoder, x) == 0  # never twice


def test_train_on_batch_initialises_like_fit():
    """A hand-written loop of `train_on_batch` gets the data-dependent start
    `fit` gives: the first batch's loss is the same either way."""
    case = next(c for c in CASES if c.id == "glow_affine_conv1x1")
    x = case.data(16, 3) * 0.3 + 0.2
    by_fit, by_batch = case.make(), case.make()
    for model in (by_fit, by_batch):
        model.compile(optimizer=keras.optimizers.SGD(0.0))
    fitted = by_fit.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loss = by_batch.train_on_batch(x)
    assert not by_batch.needs_initialization
    np.testing.assert_allclose(loss, fitted.history["loss"][0], rtol=0.02)


# f-VAE saves its noise streams the same way: tests/test_fvae.py.
NOISY = [c for c in CASES if c.id in ("glow_affine_conv1x1",)]


@pytest.mark.slow
@pytest.mark.parametrize("case", NOISY, ids=[c.id for c in NOISY])
def test_resumed_training_equals_straight_training_with_noise(case, tmp_path):
    """2 epochs, then 2 resumed from the run folder, equal 4 straight epochs,
    training noise (dequantisation, the f-VAE's posterior draws) included: the
    noise streams' states are saved with the weights."""
    from keras_flows.training import train

    x = case.data(32, 5)

    def run(out, epochs, resume=False):
        keras.utils.set_random_seed(0)
        model = case.make()
        model.compile(keras.optimizers.Adam(1e-3))
        train(model, x, out, epochs=epochs, batch_size=16, shuffle=False,
              resume=resume, verbose=0)  # fmt: skip
        return model

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "resumed", 2)
    resumed = run(tmp_path / "resumed", 4, resume=True)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
