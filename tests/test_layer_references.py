"""Small named tests: numpy references, TFP as an independent oracle, bad input."""

import re

import keras
import numpy as np
import pytest
from conftest import needs_tf, randomize, to_numpy

from keras_flows import build_decoder, initialize
from keras_flows import layers as L
from keras_flows.models.base import gaussian_nll

RNG = np.random.default_rng(0)


def _rand(*shape):
    return RNG.normal(size=shape).astype("float32")


# ------------------------------------------------------------- numpy references


def test_split_vector_is_interleaved():
    x = _rand(2, 8)
    x1, x2 = L.SplitVector()(x)
    np.testing.assert_array_equal(to_numpy(x1), x[:, 0::2])
    np.testing.assert_array_equal(to_numpy(x2), x[:, 1::2])
    np.testing.assert_array_equal(to_numpy(L.ConcatVector()([x1, x2])), x)


def test_squeeze_channel_order_is_row_col_channel():
    x = _rand(2, 4, 6, 3)
    y = to_numpy(L.Squeeze(2)(x))
    for i in range(2):
        for j in range(3):
            block = x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, :]  # (B, row, col, C)
            np.testing.assert_array_equal(y[:, i, j, :], block.reshape(2, 12))


def test_unsqueeze_inverts_squeeze():
    x = _rand(2, 4, 6, 3)
    np.testing.assert_array_equal(to_numpy(L.UnSqueeze(2)(L.Squeeze(2)(x))), x)


@pytest.mark.parametrize("layer_cls", [L.Shuffle, L.Permute])
def test_random_permutation_inverse_is_argsort(layer_cls):
    layer = layer_cls("random", seed=7)
    x = _rand(3, 10)
    y = to_numpy(layer(x))
    np.testing.assert_array_equal(y, x[:, layer.indices])
    np.testing.assert_array_equal(layer.inverse_indices, np.argsort(layer.indices))
    np.testing.assert_array_equal(to_numpy(layer.inverse()(y)), x)


def test_random_permutation_is_seeded_and_stored():
    a, b = L.Shuffle("random", seed=3), L.Shuffle("random", seed=3)
    a.build((None, 20)), b.build((None, 20))
    np.testing.assert_array_equal(a.indices, b.indices)
    unseeded = L.Shuffle("random")
    assert unseeded.get_config()["seed"] is not None


def test_split_halves_are_contiguous_for_odd_channels():
    x = _rand(2, 3, 3, 5)
    x1, x2 = L.Split()(x)
    np.testing.assert_array_equal(to_numpy(x1), x[..., :2])
    np.testing.assert_array_equal(to_numpy(x2), x[..., 2:])


def test_add_couple_subtracts_like_the_blog():
    x1, x2, m = _rand(2, 3), _rand(2, 3), _rand(2, 3)
    y1, y2 = L.AddCouple()([x1, x2, m])
    np.testing.assert_allclose(to_numpy(y2), x2 - m)
    np.testing.assert_array_equal(to_numpy(y1), x1)


def test_scale_log_det_is_sum_of_kernel():
    scale = L.Scale()
    _, log_det = scale.forward_and_log_det(_rand(4, 6))
    np.testing.assert_allclose(
        to_numpy(log_det), to_numpy(scale.kernel).sum(), rtol=1e-6
    )


def test_actnorm_log_det_counts_pixels():
    actnorm = L.Actnorm()
    x = _rand(2, 3, 5, 4)
    actnorm(x)
    randomize(actnorm)
    _, log_det = actnorm.forward_and_log_det(x)
    expected = 15 * to_numpy(actnorm.log_scale).sum()
    np.testing.assert_allclose(to_numpy(log_det), [expected] * 2, rtol=1e-5)


def test_actnorm_data_init_normalises_first_batch_and_runs_once():
    x_in = keras.Input((4, 4, 3))
    actnorm = L.Actnorm(data_init=True)
    encoder = keras.Model(x_in, L.InvConv1x1(seed=0)(actnorm(x_in)))
    x = 3.0 + 2.0 * _rand(16, 4, 4, 3)
    assert initialize(encoder, x) == 1
    y = to_numpy(actnorm(x))
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=1e-3)
    assert initialize(encoder, x + 5) == 0  # never re-run once initialised


@pytest.mark.parametrize("layer", [L.Actnorm, L.InvConv1x1])
def test_initialized_flag_survives_saving(layer, tmp_path):
    x_in = keras.Input((2, 2, 3))
    encoder = keras.Model(x_in, layer(data_init=True)(x_in))
    initialize(encoder, _rand(8, 2, 2, 3))
    weights = encoder.get_weights()
    encoder.save(tmp_path / "e.keras")
    loaded = keras.models.load_model(tmp_path / "e.keras")
    assert not loaded.layers[-1].needs_initialization
    assert initialize(loaded, _rand(8, 2, 2, 3)) == 0
    for saved, restored in zip(weights, loaded.get_weights()):
        np.testing.assert_array_equal(saved, restored)


def test_inv_conv_data_init_rotates_onto_the_first_batchs_principal_axes():
    x_in = keras.Input((4, 4, 3))
    conv = L.InvConv1x1(seed=0, data_init=True)
    encoder = keras.Model(x_in, conv(x_in))
    mixing = np.array([[3.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.5, -0.2, 0.3]], "float32")
    x = _rand(32, 4, 4, 3) @ mixing  # correlated channels
    assert initialize(encoder, x) == 1
    w = to_numpy(conv.kernel())
    np.testing.assert_allclose(w @ w.T, np.eye(3), atol=1e-5)  # a rotation
    y = to_numpy(conv(x)).reshape(-1, 3)
    cov = np.cov(y.T)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0, atol=1e-4)
    assert np.all(np.diff(np.diag(cov)) < 0)  # by decreasing variance
    _, log_det = conv.forward_and_log_det(x)
    np.testing.assert_allclose(to_numpy(log_det), 0, atol=1e-4)
    assert initialize(encoder, x + 5) == 0  # never re-run once initialised


def test_inv_conv_weight_is_recomputed_from_factors():
    conv = L.InvConv1x1(seed=1)
    x = _rand(2, 2, 2, 4)
    conv(x)
    conv.log_s.assign(conv.log_s + 0.5)
    w = to_numpy(conv.kernel())
    np.testing.assert_allclose(to_numpy(conv(x)), x @ w.T, atol=1e-5)
    _, log_det = conv.forward_and_log_det(x)
    np.testing.assert_allclose(
        to_numpy(log_det)[0], 4 * np.linalg.slogdet(w)[1], rtol=1e-5
    )


# ------------------------------------------------------------------ TFP oracle


@needs_tf
def test_inv_conv_matches_tfp_scale_matvec_lu():
    import tensorflow_probability as tfp

    conv = L.InvConv1x1(seed=2)
    x = _rand(3, 5)
    conv(x)
    randomize(conv, scale=0.2)
    p = to_numpy(conv.permutation)
    lower = np.tril(to_numpy(conv.lower), -1)
    diag = to_numpy(conv.sign) * np.exp(to_numpy(conv.log_s))
    upper = np.triu(to_numpy(conv.upper), 1) + np.diag(diag)
    # TFP: W = gather(L @ U, argsort(perm)), i.e. P[i, inv_perm[i]] = 1.
    perm = np.argsort(np.argmax(p, axis=1))
    bijector = tfp.bijectors.ScaleMatvecLU(lower + upper, perm, validate_args=True)
    y, log_det = conv.forward_and_log_det(x)
    np.testing.assert_allclose(to_numpy(y), bijector.forward(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(log_det),
        bijector.forward_log_det_jacobian(x, event_ndims=1).numpy(),
        atol=1e-5,
    )


@needs_tf
def test_shuffle_matches_tfp_permute():
    import tensorflow_probability as tfp

    layer = L.Shuffle("random", seed=11)
    x = _rand(4, 9)
    y = to_numpy(layer(x))
    bijector = tfp.bijectors.Permute(permutation=layer.indices)
    np.testing.assert_array_equal(y, bijector.forward(x).numpy())
    np.testing.assert_array_equal(to_numpy(layer.inverse()(y)), bijector.inverse(y))


@needs_tf
def test_gaussian_nll_matches_tfp():
    import tensorflow_probability as tfp

    z = _rand(5, 7)
    mvn = tfp.distributions.MultivariateNormalDiag(loc=np.zeros(7, "float32"))
    np.testing.assert_allclose(
        -to_numpy(gaussian_nll(z)), mvn.log_prob(z).numpy(), rtol=1e-5
    )


@needs_tf
def test_actnorm_matches_tfp_chain():
    import tensorflow_probability as tfp

    actnorm = L.Actnorm()
    x = _rand(2, 3, 3, 4)
    actnorm(x)
    randomize(actnorm)
    tfb = tfp.bijectors
    bijector = tfb.Chain(
        [
            tfb.Shift(to_numpy(actnorm.shift)),
            tfb.Scale(np.exp(to_numpy(actnorm.log_scale))),
        ]
    )
    y, log_det = actnorm.forward_and_log_det(x)
    np.testing.assert_allclose(to_numpy(y), bijector.forward(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(log_det),
        bijector.forward_log_det_jacobian(x, event_ndims=3),
        rtol=1e-5,
    )


# ------------------------------------------------------------------- bad input


def test_split_vector_rejects_odd_length():
    with pytest.raises(ValueError, match="even length"):
        L.SplitVector()(_rand(2, 7))


def test_squeeze_rejects_odd_height():
    message = (
        "`Squeeze` needs height and width divisible by `factor`. "
        "Received: factor=2, input_shape=(None, 27, 28, 1)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        L.Squeeze(2)(keras.Input((27, 28, 1)))


def test_squeeze_rejects_unknown_width_and_non_images():
    with pytest.raises(ValueError, match="divisible by `factor`"):
        L.Squeeze(2)(keras.Input((28, None, 1)))
    with pytest.raises(ValueError, match=re.escape("images of shape (batch, H, W, C)")):
        L.Squeeze(2)(keras.Input((28, 1)))
    with pytest.raises(ValueError, match="positive integer `factor`"):
        L.Squeeze(0)


def test_unsqueeze_rejects_bad_channels():
    message = (
        "`UnSqueeze` needs channels divisible by `factor**2`. "
        "Received: factor=2, input_shape=(1, 2, 2, 6)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        L.UnSqueeze(2)(_rand(1, 2, 2, 6))
    with pytest.raises(ValueError, match=re.escape("images of shape (batch, H, W, C)")):
        L.UnSqueeze(2)(_rand(1, 8))


@pytest.mark.parametrize("layer_cls", [L.Shuffle, L.Permute])
def test_unknown_mode_is_rejected(layer_cls):
    with pytest.raises(ValueError, match="mode must be one of"):
        layer_cls("sideways")


def test_cond_actnorm_rejects_mismatched_spatial_size():
    with pytest.raises(ValueError, match="same height and width"):
        L.CondActnorm()([_rand(1, 4, 4, 2), _rand(1, 2, 2, 2)])


def test_add_couple_rejects_mismatched_shift():
    with pytest.raises(ValueError, match="same shape"):
        L.AddCouple()([_rand(1, 3), _rand(1, 3), _rand(1, 4)])


def test_coupling_rejects_net_with_wrong_channels():
    couple = L.AffineCouple(keras.layers.Conv2D(5, 1))
    with pytest.raises(ValueError, match="shift_model to map x1 to the shape of x2"):
        couple([_rand(1, 2, 2, 3), _rand(1, 2, 2, 3)])


@pytest.mark.parametrize(
    "make",
    [
        lambda net: L.AffineCouple(net),
        lambda net: L.AffineCouple(keras.layers.Dense(3), net),
        lambda net: L.MaskedCouple([1, 0, 1], net),
    ],
)
def test_coupling_constructor_takes_nets_not_configs(make):
    config = keras.saving.serialize_keras_object(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="to be a Keras layer or model"):
        make(config)


def test_masked_couple_rejects_non_binary_mask():
    with pytest.raises(ValueError, match="binary mask"):
        L.MaskedCouple([0.5, 1], keras.layers.Dense(2))


def test_inverse_needs_an_invertible_layer():
    with pytest.raises(ValueError, match="needs an `InvertibleLayer`"):
        L.Inverse(keras.layers.Dense(3))


# ------------------------------------------------------------------ deep stack


@pytest.mark.slow
def test_deep_stack_of_glow_steps_inverts_in_float32():
    """32 steps of Actnorm + InvConv1x1 + affine coupling with random weights.

    The weights are small enough that z stays O(10), as in a trained flow; at a
    scale of 0.05 the random map itself blows z up to ~1e13, which no float32
    computation inverts.
    """
    x_in = keras.Input((4, 4, 4))
    x = x_in
    for k in range(32):
        x = L.Actnorm()(x)
        x = L.InvConv1x1(seed=k)(x)
        x1, x2 = L.Split()(x)
        nets = [
            keras.Sequential(
                [
                    keras.Input((None, None, 2)),
                    keras.layers.Conv2D(2, 3, padding="same"),
                ]
            )
            for _ in range(2)
        ]
        couple = L.AffineCouple(*nets)
        x1, x2 = couple([x1, x2])
        x = L.Concat()([x1, x2])
    encoder = keras.Model(x_in, x)
    randomize(encoder, scale=0.03)
    decoder = build_decoder(encoder)
    data = _rand(4, 4, 4, 4)
    z = encoder.predict(data, verbose=0)
    assert np.abs(z).max() < 100
    np.testing.assert_allclose(decoder.predict(z, verbose=0), data, atol=1e-4)
