"""Tests for `keras_flows.models.RealNVP`, its two-moons recipe and pictures."""

import json
import math

import keras
import numpy as np
import pytest
from conftest import BACKEND, needs_tf, to_numpy

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


def test_optimize_regularization_adds_l2_to_the_loss(moons):
    x = moons[0][:128]
    plain = RealNVP(**SMALL)
    regularized = RealNVP(**SMALL, regularization=0.01, optimize_regularization=True)
    for model in (plain, regularized):  # eager on TF: one step costs less than a trace
        model.compile(keras.optimizers.Adam(1e-3), run_eagerly=BACKEND == "tensorflow")
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


def test_get_config_holds_the_constructor_arguments(model):
    config = model.get_config()
    assert {k: config[k] for k in ("input_dim", "coupling_dim")} == {
        "input_dim": 2,
        "coupling_dim": 16,
    }
    assert "encoder" not in config
    clone = RealNVP.from_config(config)
    assert clone.count_params() == model.count_params()


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One short run of `keras-flows train realnvp` (the recipe, end to end)."""
    from keras_flows.cli import main

    run = tmp_path_factory.mktemp("realnvp_run")
    main(["train", "realnvp", "--epochs", "1", "--limit", "300", "--coupling-layers",
          "2", "--coupling-dim", "16", "--out", str(run)])  # fmt: skip
    return run


@pytest.mark.slow
def test_recipe_writes_pictures_and_metrics(cli_run):
    for name in ("loss", "moons", "density", "temperatures"):
        assert (cli_run / f"{name}.png").stat().st_size > 1000
    for name in ("model.weights.h5", "history.json", "model.json"):
        assert (cli_run / name).exists()
    metrics = json.loads((cli_run / "metrics.json").read_text())
    assert np.isfinite(metrics["test_nll_nats"])
    assert metrics["test_size"] == 2000 and metrics["epochs_run"] == 1
    # Original units: NLL + sum(log std) of the training data's standardisation.
    _, stats = load_moons(3000, 0.05, seed=0)
    assert metrics["test_nll_nats_original_units"] == pytest.approx(
        metrics["test_nll_nats"] + np.sum(np.log(stats.std.astype("float64")))
    )


@pytest.mark.slow
def test_cli_sample(cli_run):
    from keras_flows.cli import main

    main(["sample", str(cli_run), "--temperature", "0.8", "--seed", "0"])
    assert (cli_run / "sample_T0.8.png").stat().st_size > 1000
