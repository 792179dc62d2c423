"""NICE: the blog's architecture, exact likelihood, sampling, training guard, CLI."""

import imageio.v3 as iio
import numpy as np
import pytest

from keras_flows import viz
from keras_flows.models import NICE
from keras_flows.models.base import LOG_2PI


def small_nice(**kwargs):
    return NICE(input_dim=8, hidden_units=16, hidden_layers=2, seed=0, **kwargs)


def data(n=64, dim=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, dim)).astype("float32")


def test_default_nice_has_the_blogs_parameter_count():
    model = NICE()
    assert model.encoder.count_params() == 19_158_352
    assert model.decoder.count_params() == 19_158_352  # the same weights
    assert model.image_shape == (28, 28, 1)


def test_blog_loss_drops_the_constant():
    model = small_nice()
    x = data(64)
    nll = -model.log_prob(x).mean()
    np.testing.assert_allclose(model.blog_loss(x), nll - 4 * LOG_2PI, rtol=1e-6)


def test_sample_grid_is_uint8_and_written(tmp_path):
    model = NICE(hidden_units=8, hidden_layers=1, seed=0)
    grid = viz.sample_grid(
        model, 3, 4, temperature=0.75, seed=0, path=tmp_path / "g.png", labels=False
    )
    assert grid.dtype == np.uint8 and grid.shape == (84, 112)  # bare: no text
    np.testing.assert_array_equal(iio.imread(tmp_path / "g.png"), grid)
    sweep = viz.temperature_sweep(model, temperatures=(0.0, 1.0), num=5, labels=False)
    assert sweep.shape == (56, 140)


def test_odd_input_dim_is_rejected():
    with pytest.raises(ValueError, match="even `input_dim`"):
        NICE(input_dim=7)
