"""Class-conditional Glow (`Glow(num_classes=K)`): exact `log p(x | y)`, the
generative classifier, sampling by class, `fit(x, y)`, save/load, bad labels."""

import keras
import numpy as np
import pytest
from conftest import batch_jacobian, randomize

from keras_flows.models import Glow
from keras_flows.models.base import gaussian_nll
from keras_flows.models.conditional import one_hot_labels

K = 3
TINY = dict(levels=2, depth=1, hidden_channels=8, coupling="affine")


def images(n, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 8, 8, 1)).astype("float32")


@pytest.fixture(scope="module")
def model():
    model = Glow((8, 8, 1), permutation="conv1x1", num_classes=K, seed=0, **TINY)
    randomize(model.encoder, scale=0.1)  # the class priors start at zero
    return model


def test_the_decoder_takes_the_label_and_inverts_the_encoder(model):
    assert [tuple(t.shape) for t in model.decoder.inputs] == [(None, 64), (None, K)]
    x, y = images(5), np.array([0, 1, 2, 1, 0])
    z = model.encode(x, y)
    np.testing.assert_allclose(model.decode(z, y), x, atol=1e-5)
    np.testing.assert_allclose(model.reconstruct(x, 2), x, atol=1e-5)


def test_log_prob_is_the_change_of_variables_given_the_label(model):
    x = images(3, seed=1)
    for y in (0, 2):
        one_hot = keras.ops.convert_to_tensor(one_hot_labels(y, 1, K))

        def flat_z(v, one_hot=one_hot):  # one label, any batch (JAX: one sample)
            labels = keras.ops.tile(one_hot, (keras.ops.shape(v)[0], 1))
            return model.encoder([keras.ops.reshape(v, (-1, 8, 8, 1)), labels])

        jac = batch_jacobian(flat_z, x.reshape(3, -1))  # (3, 64, 64)
        log_det = np.linalg.slogdet(jac.astype("float64"))[1]
        z = model.encode(x, y).astype("float64")
        expected = -np.asarray(gaussian_nll(z)) + log_det
        np.testing.assert_allclose(model.log_prob(x, y), expected, rtol=1e-4, atol=1e-3)
    # The label changes the density: each class has its own prior.
    assert np.all(np.abs(model.log_prob(x, 0) - model.log_prob(x, 1)) > 1e-3)


def test_bits_per_dim_takes_the_labels(model):
    x = images(2, seed=2)
    width = 2 / 256
    expected = (-model.log_prob(x, 1) - 64 * np.log(width)) / (64 * np.log(2))
    np.testing.assert_allclose(model.bits_per_dim(x, 1, dequantize=False), expected)


def test_the_generative_classifier_is_bayes_rule(model):
    x = images(6, seed=3)
    log_px_y = np.stack([model.log_prob(x, k) for k in range(K)], axis=1)
    posterior = model.class_log_posterior(x)
    np.testing.assert_allclose(np.exp(posterior).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        posterior, log_px_y - np.log(np.exp(log_px_y).sum(1, keepdims=True)), atol=1e-6
    )
    np.testing.assert_array_equal(model.predict_class(x), log_px_y.argmax(axis=1))
    # A prior that all but rules out every class but 2 decides for 2.
    sure = model.predict_class(x, class_prior=[1e-30, 1e-30, 1 - 2e-30])
    np.testing.assert_array_equal(sure, 2)


def test_samples_are_drawn_for_the_requested_classes(model):
    by_int = model.sample(4, temperature=0.7, seed=5, labels=1)
    by_list = model.sample(4, temperature=0.7, seed=5, labels=[1, 1, 1, 1])
    np.testing.assert_array_equal(by_int, by_list)
    # The mode of each class (T = 0) is one image per class, whatever the seed.
    modes = model.sample(3, temperature=0, seed=6, labels=[0, 1, 2])
    again = model.sample(3, temperature=0, seed=7, labels=[0, 1, 2])
    np.testing.assert_array_equal(modes, again)
    assert np.abs(modes[0] - modes[1]).max() > 1e-3
    # The same noise decoded under another label is another image.
    other = model.sample(4, temperature=0.7, seed=5, labels=2)
    assert np.abs(other - by_int).max() > 1e-3


def test_fit_takes_x_and_integer_labels():
    model = Glow((8, 8, 1), actnorm_data_init=True, num_classes=K, seed=1, **TINY)
    model.compile(keras.optimizers.Adam(1e-3))
    x, y = images(16, seed=4), np.arange(16) % K
    history = model.fit(
        x, y, batch_size=8, epochs=1, verbose=0, validation_data=(x[:8], y[:8])
    )
    assert np.all(np.isfinite(history.history["loss"]))
    assert np.all(np.isfinite(history.history["val_loss"]))
    assert not model.needs_initialization
    with pytest.raises(ValueError, match="fit\\(x, y\\)"):
        model.fit(x, batch_size=8, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="validation_data"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_data=x[:8])


def test_a_saved_conditional_glow_loads_with_its_classes(model, tmp_path):
    path = tmp_path / "glow.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.num_classes == K
    x = images(2, seed=8)
    np.testing.assert_allclose(loaded.log_prob(x, [0, 2]), model.log_prob(x, [0, 2]))


@pytest.mark.parametrize(
    "labels, message",
    [
        (None, "class-conditional \\(3 classes\\): pass labels"),
        (3, "must be in 0..2"),
        (-1, "must be in 0..2"),
        ([0, 1], "one int per sample \\(4\\)"),
        (0.5, "whole numbers"),
    ],
)
def test_bad_labels_get_a_clear_error(model, labels, message):
    with pytest.raises(ValueError, match=message):
        model.log_prob(images(4), labels)


def test_unconditional_models_refuse_labels_and_conditional_arguments_are_checked():
    plain = Glow((8, 8, 1), seed=0, **TINY)
    with pytest.raises(ValueError, match="not class-conditional"):
        plain.sample(2, labels=1)
    with pytest.raises(ValueError, match="not class-conditional"):
        plain.predict_class(images(2))
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match="num_classes >= 2"):
            Glow((8, 8, 1), num_classes=bad, **TINY)


def test_class_and_manipulation_grids_say_what_they_show(model):
    from keras_flows import viz

    grid = viz.class_grid(model, cols=4, temperature=0.7)
    assert grid.ndim == 2 and grid.shape[0] > K * 8 * 4  # labelled, upscaled
    plain = Glow((8, 8, 1), seed=0, **TINY)
    randomize(plain.encoder, scale=0.1)
    x = images(4, seed=9)
    direction = plain.latent_direction(x[:2], x[2:])
    grid = viz.manipulation_grid(plain, x[:2], direction, (-1.0, 0.0, 1.0))
    assert grid.ndim == 2 and grid.shape[1] > 3 * 8
    with pytest.raises(ValueError, match="class-conditional"):
        viz.class_grid(plain)


def test_the_confusion_matrix_counts_the_classifiers_answers(model, tmp_path):
    from keras_flows import viz

    x, labels = images(12, seed=4), np.arange(12) % K
    figure = viz.confusion_figure(model, x, labels, path=tmp_path / "c.png")
    predicted = model.predict_class(x)
    # The drawn counts are (true, predicted) pairs; the title gives the accuracy.
    texts = [t.get_text() for t in figure.axes[0].texts]
    expected = np.zeros((K, K), int)
    np.add.at(expected, (labels, predicted), 1)
    assert [int(t) for t in texts] == expected.ravel().tolist()
    assert f"{np.mean(predicted == labels):.1%}" in figure.axes[0].get_title()
    assert (tmp_path / "c.png").stat().st_size > 1000
