"""f-VAE-specific tests: the ELBO and its constants against numpy, the IWAE bound,
the plain-VAE special case, the trainable sigmas, the parts and `network`,
arguments. The generic model properties (sampling, temperature and its mode at
T = 0, interpolation, save/load, fit, bad data) are in the parametrized model
suite."""

import math

import keras
import numpy as np
import pytest
from conftest import batch_jacobian
from keras import ops

from keras_flows import layers as L
from keras_flows.models import FVAE

LOG_2PI = math.log(2 * math.pi)
TINY = dict(
    encoder_levels=1, encoder_blocks=1, flow_levels=2, flow_depth=1, hidden_channels=8
)


def _images(n, shape=(8, 8, 1), seed=0):
    """Images on an 8-bit grid in [-1, 1)."""
    k = np.random.default_rng(seed).integers(0, 256, (n, *shape))
    return (-1 + 2 * k / 256).astype("float32")


def _off_identity(model, scale=0.05, seed=0):
    """Adds N(0, scale^2) to every trainable weight, so the zero-initialised
    convolutions, Actnorms and log-sigmas are tested too."""
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        value = ops.convert_to_numpy(w)
        w.assign(value + scale * rng.standard_normal(value.shape).astype("float32"))
    return model


def _sigmas(model):
    return (
        math.exp(float(ops.convert_to_numpy(model.posterior.log_sigma))),
        math.exp(float(ops.convert_to_numpy(model.likelihood.log_sigma))),
    )


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return _off_identity(FVAE((8, 8, 1), seed=0, **TINY))


def _terms(model, x, u, log_det=True):
    """The pieces of the ELBO in float64 numpy, from E, G and F alone (the flow's
    log-det from the slogdet of its autodiff Jacobian, unless `log_det=False`)."""
    sigma1, sigma2 = _sigmas(model)
    z = model.inference_net.predict(x, verbose=0) + sigma1 * u
    x_mean = model.generator.predict(z, verbose=0).astype("float64")
    eps = model.flow.predict(z, verbose=0).astype("float64")

    def flow(v):
        return ops.reshape(
            model.flow(ops.reshape(v, (-1, *z.shape[1:]))), (ops.shape(v)[0], -1)
        )

    def sq(a):
        return np.sum(np.reshape(a, (len(a), -1)).astype("float64") ** 2, axis=1)

    return dict(
        sigma1=sigma1,
        sigma2=sigma2,
        dims=x[0].size,
        dims_z=z[0].size,
        sq_error=sq(x - x_mean),
        sq_eps=sq(eps),
        sq_u=sq(u),
        log_det=np.array(
            np.linalg.slogdet(batch_jacobian(flow, z.reshape(len(z), -1)))[1]
            if log_det
            else np.zeros(len(z))
        ),
    )


def _log_likelihood(t):
    """log N(x; G(z), sigma2^2 I)."""
    return (
        -t["sq_error"] / (2 * t["sigma2"] ** 2)
        - t["dims"] * math.log(t["sigma2"])
        - 0.5 * t["dims"] * LOG_2PI
    )


def _elbo(t):
    """log p(x|z) + log p(z) - log q(z|x), each term written out in full."""
    log_pz = -0.5 * t["sq_eps"] - 0.5 * t["dims_z"] * LOG_2PI + t["log_det"]
    log_q = (
        -0.5 * t["sq_u"]
        - t["dims_z"] * math.log(t["sigma1"])
        - 0.5 * t["dims_z"] * LOG_2PI
    )
    return _log_likelihood(t) + log_pz - log_q


def _blog_loss(t):
    """The post's loss, with no other constant."""
    return (
        t["sq_error"] / (2 * t["sigma2"] ** 2)
        + t["dims"] * math.log(t["sigma2"])
        + 0.5 * t["dims"] * LOG_2PI
        + 0.5 * t["sq_eps"]
        - t["log_det"]
        - 0.5 * t["sq_u"]
        - t["dims_z"] * math.log(t["sigma1"])
    )


# --------------------------------------------------------------------- the ELBO


def test_elbo_is_recomputed_from_the_parts(model):
    x = _images(3, seed=1)
    u = np.random.default_rng(2).standard_normal((3, *model.latent_shape))
    u = u.astype("float32")
    terms = _terms(model, x, u)
    elbo = model.network.predict([x, u], verbose=0)
    np.testing.assert_allclose(elbo, _elbo(terms), rtol=1e-5, atol=1e-3)
    # The blog's loss is exactly -ELBO: the D_z/2 log(2 pi) of p(z) and of q(z|x)
    # cancel, and no other constant is left out.
    np.testing.assert_allclose(_blog_loss(terms), -_elbo(terms), rtol=1e-12)


def test_the_training_loss_is_the_elbo_in_expectation(model):
    """`fit`'s loss (the model's own noise draw) and `log_prob` (numpy draws)
    estimate the same -ELBO: equal within Monte Carlo error."""
    x = np.repeat(_images(4, seed=3), 128, axis=0)  # 128 draws per image
    elbo = model.log_prob(x, num_samples=1)
    model.compile("adam")
    loss = model.evaluate(x, batch_size=128, verbose=0)
    stderr = elbo.std() / math.sqrt(len(x))
    assert abs(loss + elbo.mean()) < 5 * math.sqrt(2) * stderr


def test_iwae_bound_is_the_elbo_for_one_sample_and_grows_with_k(model):
    x = _images(4, seed=4)
    u = np.random.default_rng(7).standard_normal((4, *model.latent_shape))
    np.testing.assert_allclose(
        model.log_prob(x, num_samples=1, seed=7),
        model.network.predict([x, u.astype("float32")], verbose=0),
        rtol=1e-6,
    )
    # Averaged over draws: E[bound_1] = ELBO <= E[bound_4] <= E[bound_16].
    x = np.repeat(x, 32, axis=0)
    bounds = [model.log_prob(x, num_samples=k, seed=k).mean() for k in (1, 4, 16)]
    assert bounds[0] < bounds[1] < bounds[2]
    with pytest.raises(ValueError, match="num_samples"):
        model.log_prob(x[:1], num_samples=0)


def test_iwae_bound_is_the_log_mean_of_the_importance_weights(model):
    """log (1/k) sum_i exp(w_i), with w_i the ELBO integrand at draw u_i: the
    draws are numpy's, image by image, `(B, k, *latent)`."""
    x, k = _images(3, seed=15), 5
    u = np.random.default_rng(11).standard_normal((3, k, *model.latent_shape))
    rows = u.reshape(-1, *model.latent_shape).astype("float32")
    weights = model.network.predict([np.repeat(x, k, axis=0), rows], verbose=0)
    weights = weights.reshape(3, k).astype("float64")
    expected = np.log(np.mean(np.exp(weights), axis=1))
    np.testing.assert_allclose(
        model.log_prob(x, num_samples=k, seed=11), expected, rtol=1e-6
    )
    # The draws do not depend on how the rows are batched.
    np.testing.assert_allclose(
        model.log_prob(x, num_samples=k, seed=11, batch_size=4), expected, rtol=1e-6
    )


def test_bits_per_dim_of_the_bound(model):
    x = _images(3, seed=5)
    width, dims = 2 / 256, x[0].size
    bound = model.log_prob(x, num_samples=4)
    expected = (-bound - dims * math.log(width)) / (dims * math.log(2))
    np.testing.assert_allclose(
        model.bits_per_dim(x, num_samples=4, dequantize=False), expected
    )


def test_flow_depth_zero_is_a_plain_vae():
    keras.utils.set_random_seed(1)
    vae = _off_identity(FVAE((8, 8, 1), **{**TINY, "flow_depth": 0}, seed=0))
    assert not vae.flow.weights
    assert [type(op) for op in vae.flow.operations[1:]] == [L.Flatten]
    x = _images(2, seed=6)
    h = vae.inference_net.predict(x, verbose=0)
    np.testing.assert_allclose(vae.encode(x), h.reshape(2, -1), atol=1e-6)
    # The ELBO of a Gaussian VAE: E_q[log p(x|z)] - KL(N(h, s1^2) || N(0, I)).
    draws = 256
    x_rep = np.repeat(x, draws, axis=0)
    u = np.random.default_rng(8).standard_normal((len(x_rep), *vae.latent_shape))
    log_px = _log_likelihood(_terms(vae, x_rep, u.astype("float32"), log_det=False))
    sigma1 = _sigmas(vae)[0]
    kl = 0.5 * (h**2 + sigma1**2 - 1 - 2 * math.log(sigma1)).reshape(2, -1).sum(1)
    expected = log_px.reshape(2, draws).mean(axis=1) - kl
    elbo = vae.log_prob(x_rep).reshape(2, draws)
    stderr = elbo.std(axis=1) / math.sqrt(draws)
    assert (abs(elbo.mean(axis=1) - expected) < 5 * math.sqrt(2) * stderr).all()


# -------------------------------------------------------------------- training


def test_one_fit_step_moves_both_sigmas():
    keras.utils.set_random_seed(2)
    vae = FVAE((8, 8, 1), seed=0, **TINY)
    assert _sigmas(vae) == (1.0, 1.0)  # log-parameterised, initialised at 1
    vae.compile(keras.optimizers.SGD(1e-3))
    vae.fit(_images(8, seed=9), batch_size=8, epochs=1, verbose=0)
    sigma1, sigma2 = _sigmas(vae)
    assert sigma1 != 1.0 and sigma2 != 1.0


def test_network_holds_every_weight(model, tmp_path):
    assert model.weights_model is model.network
    assert not model.network.compiled
    assert len(model.network.weights) == len(model.weights)
    assert {id(w) for w in model.network.weights} == {id(w) for w in model.weights}
    # What a run folder does: the network's weights rebuild the whole model.
    model.network.save_weights(tmp_path / "model.weights.h5")
    rebuilt = FVAE.from_config(model.get_config())
    rebuilt.weights_model.load_weights(tmp_path / "model.weights.h5")
    x = _images(3, seed=10)
    np.testing.assert_allclose(rebuilt.log_prob(x), model.log_prob(x), atol=1e-5)
    np.testing.assert_allclose(rebuilt.sample(2, seed=1), model.sample(2, seed=1))


def test_get_config_is_the_constructor_arguments(model):
    config = model.get_config()
    assert config == {
        "input_shape": (8, 8, 1),
        **TINY,
        "n_bits": 8,
        "seed": 0,
        "block_channels": None,
        "net_input_bound": 4.0,
        "net_output_scale": 0.1,
        "name": model.name,
    }
    # A seed is drawn once when none is given, and stored.
    assert isinstance(FVAE((8, 8, 1), **TINY).get_config()["seed"], int)


# ------------------------------------------------------------------- inference


def test_encoder_decoder_and_reconstruction(model):
    x = _images(3, seed=11)
    z = model.encode(x)
    assert z.shape == (3, 64)  # flat, F's level order
    h = model.inference_net.predict(x, verbose=0)
    np.testing.assert_allclose(z, model.flow.predict(h, verbose=0), atol=1e-6)
    # F is exact, so decode(encode(x)) = G(F^-1(F(E(x)))) = G(E(x)).
    x_hat = model.reconstruct(x)
    np.testing.assert_allclose(x_hat, model.generator.predict(h, verbose=0))
    np.testing.assert_allclose(model.decode(z), x_hat, atol=1e-5)
    assert np.abs(x_hat).max() <= 1  # tanh


# ------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(input_shape=(6, 8, 1), encoder_levels=2), "divisible by 2\\*\\*encoder"),
        (dict(input_shape=(8, 8, 1), encoder_levels=2, flow_levels=3), "flow_levels"),
        (dict(input_shape=(8, 8)), "input_shape"),
        (dict(input_shape=(8, 8, 1), encoder_levels=0), "encoder_levels >= 1"),
        (dict(input_shape=(8, 8, 1), flow_depth=-1), "flow_depth >= 0"),
        (dict(input_shape=(8, 8, 1), n_bits=9), "n_bits"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FVAE(**{**TINY, **kwargs})


def test_an_identity_flow_needs_no_divisible_latent():
    # flow_levels only matters when there is a flow.
    vae = FVAE(
        (4, 4, 1), encoder_levels=2, encoder_blocks=1, flow_levels=4, flow_depth=0
    )
    assert vae.latent_shape == (1, 1, 16)


@pytest.mark.slow
def test_noise_streams_are_saved_with_the_weights(tmp_path):
    """Both random streams (dequantisation, posterior draws) continue where
    they were after a save and load: a resumed run draws the same noise."""
    x = _images(8)
    keras.utils.set_random_seed(0)
    trained = FVAE((8, 8, 1), seed=0, **TINY)
    trained.compile(keras.optimizers.Adam(1e-3))
    trained.fit(x, batch_size=4, epochs=1, verbose=0)
    trained.save_weights(tmp_path / "fvae.weights.h5")
    fresh = FVAE((8, 8, 1), seed=0, **TINY)
    fresh.load_weights(tmp_path / "fvae.weights.h5")

    def states(model):
        noise = model.network.get_layer("dequantize").seed_generator
        return [ops.convert_to_numpy(g.state) for g in (noise, model.noise)]

    moved = FVAE((8, 8, 1), seed=0, **TINY)
    for saved, loaded, start in zip(states(trained), states(fresh), states(moved)):
        np.testing.assert_array_equal(saved, loaded)
        assert not np.array_equal(saved, start)
