"""Tests for `keras_flows.models.RealNVP`, its two-moons recipe and pictures."""

import json
import math

import keras
import numpy as np
import pytest
from conftest import BACKEND, jacobian, needs_tf, to_numpy
from keras import ops

from keras_flows.data import load_moons
from keras_flows.models import RealNVP
from keras_flows.models.realnvp import checkerboard_masks

SMALL = {"coupling_layers": 6, "coupling_dim": 16}


@pytest.fixture(scope="module")
def moons():
    x, stats = load_moons(600, 0.05, seed=0)
    return x, stats


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    return RealNVP(**SMALL)


def test_masks_are_the_books():
    np.testing.assert_array_equal(
        checkerboard_masks(2, 6), np.array([[0, 1], [1, 0]] * 3, "float32")
    )
    masks = checkerboard_masks(5, 3)
    np.testing.assert_array_equal(masks[0], [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(masks[0] + masks[1], np.ones(5))


def test_log_prob_matches_change_of_variables(model, moons):
    x = moons[0][:4]
    log_prob = model.log_prob(x)
    for i in range(len(x)):

        def encode(v):
            return ops.reshape(model.encoder(ops.reshape(v, (1, 2))), (2,))

        jac = jacobian(encode, x[i])  # (2, 2) = dz/dx
        z = model.encode(x[i : i + 1])[0].astype("float64")
        log_normal = -0.5 * np.sum(z**2) - math.log(2 * math.pi)
        _, log_abs_det = np.linalg.slogdet(jac.astype("float64"))
        np.testing.assert_allclose(log_prob[i], log_normal + log_abs_det, atol=1e-4)


def test_encode_decode_round_trip(model, moons):
    x = moons[0]
    z = model.encode(x)
    np.testing.assert_allclose(model.decode(z), x, atol=1e-5)
    z = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    np.testing.assert_allclose(model.encode(model.decode(z)), z, atol=1e-5)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.5])
def test_sample_honours_temperature(model, temperature):
    x = model.sample(4000, temperature=temperature, seed=3)
    assert x.shape == (4000, 2) and np.isfinite(x).all()
    z = model.encode(x)  # the prior draw, recovered exactly
    np.testing.assert_allclose(z.std(axis=0), temperature, rtol=0.05)
    np.testing.assert_array_equal(x, model.sample(4000, temperature, seed=3))


@needs_tf
def test_tfp_oracle_agrees_on_gaussian_term(model, moons):
    import tensorflow_probability as tfp

    x = moons[0][:256]
    prior = model.distribution
    assert isinstance(prior, tfp.distributions.MultivariateNormalDiag)
    z, log_det = model.log_det_model.predict(x, verbose=0)
    # The book's log-likelihood, `distribution.log_prob(z) + log_det`.
    book = to_numpy(prior.log_prob(z)) + log_det
    np.testing.assert_allclose(model.log_prob(x), book, atol=1e-4)
    np.testing.assert_allclose(
        to_numpy(prior.log_prob(z)),
        -0.5 * np.sum(z.astype("float64") ** 2, axis=1) - math.log(2 * math.pi),
        atol=1e-5,
    )


@pytest.mark.skipif(BACKEND == "tensorflow", reason="checks the non-TF error")
def test_distribution_needs_tensorflow(model):
    with pytest.raises(RuntimeError, match="TensorFlow backend"):
        model.distribution  # noqa: B018


def test_nll_is_minus_mean_log_prob(model, moons):
    x = moons[0][:100]
    assert model.nll(x) == pytest.approx(-model.log_prob(x).mean())


def test_fit_on_x_only_with_validation_split(moons):
    keras.utils.set_random_seed(2)
    model = RealNVP(**SMALL)
    model.compile(keras.optimizers.Adam(1e-3))
    history = model.fit(
        moons[0], batch_size=120, epochs=6, validation_split=0.2, verbose=0
    )
    loss, val_loss = history.history["loss"], history.history["val_loss"]
    assert np.isfinite(loss).all() and np.isfinite(val_loss).all()
    assert loss[-1] < loss[0] and val_loss[-1] < val_loss[0]


def test_optimize_regularization_adds_l2_to_the_loss(moons):
    x = moons[0][:128]
    plain = RealNVP(**SMALL)
    regularized = RealNVP(**SMALL, regularization=0.01, optimize_regularization=True)
    for model in (plain, regularized):
        model.compile(keras.optimizers.Adam(1e-3))
        model(x[:1])
    regularized.set_weights(plain.get_weights())
    l2 = sum(
        0.01 * np.sum(to_numpy(w) ** 2)
        for w in plain.trainable_weights
        if "kernel" in w.path
    )
    assert l2 > 0
    loss = plain.evaluate(x, batch_size=128, verbose=0)
    loss_l2 = regularized.evaluate(x, batch_size=128, verbose=0)
    np.testing.assert_allclose(loss_l2 - loss, l2, rtol=1e-4)


def test_rejects_one_dimensional_data():
    with pytest.raises(ValueError, match="input_dim >= 2"):
        RealNVP(input_dim=1)


def test_get_config_and_keras_file_round_trip(model, moons, tmp_path):
    config = model.get_config()
    assert {k: config[k] for k in ("input_dim", "coupling_dim")} == {
        "input_dim": 2,
        "coupling_dim": 16,
    }
    assert "encoder" not in config
    clone = RealNVP.from_config(config)
    assert clone.count_params() == model.count_params()

    x = moons[0][:64]
    path = tmp_path / "realnvp.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, RealNVP)
    np.testing.assert_allclose(loaded.log_prob(x), model.log_prob(x), atol=1e-6)
    np.testing.assert_allclose(
        loaded.sample(8, 0.7, seed=1), model.sample(8, 0.7, seed=1), atol=1e-6
    )


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One short run of `keras-flows train realnvp` (the recipe, end to end)."""
    from keras_flows.cli import main

    run = tmp_path_factory.mktemp("realnvp_run")
    main(["train", "realnvp", "--epochs", "1", "--limit", "300", "--out", str(run)])
    return run


def test_recipe_writes_pictures_and_metrics(cli_run):
    for name in ("loss", "moons", "density", "temperatures"):
        assert (cli_run / f"{name}.png").stat().st_size > 1000
    for name in ("best.weights.h5", "history.json", "config.json"):
        assert (cli_run / name).exists()
    metrics = json.loads((cli_run / "metrics.json").read_text())
    assert np.isfinite(metrics["test_nll_nats"])
    assert metrics["test_size"] == 2000 and metrics["epochs_run"] == 1
    # Original units: NLL + sum(log std) of the training data's standardisation.
    _, stats = load_moons(3000, 0.05, seed=0)
    assert metrics["test_nll_nats_original_units"] == pytest.approx(
        metrics["test_nll_nats"] + np.sum(np.log(stats.std.astype("float64")))
    )


def test_cli_sample(cli_run):
    from keras_flows.cli import main

    main(["sample", str(cli_run), "--temperature", "0.8", "--seed", "0"])
    assert (cli_run / "sample_T0.8.png").stat().st_size > 1000
