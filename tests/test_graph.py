"""Tests of the graph helpers (`keras_flows.graph`): decoder, log-det model, walk."""

import keras
import numpy as np
from conftest import to_numpy

from keras_flows import build_log_det_model
from keras_flows import layers as L


def test_log_det_of_volume_preserving_image_flow_is_one_zero_per_sample():
    x_in = keras.Input((4, 4, 1))
    y = L.Permute("reverse")(L.Squeeze()(x_in))
    encoder = keras.Model(x_in, y)
    x = np.random.default_rng(0).normal(size=(5, 4, 4, 1)).astype("float32")
    z, log_det = build_log_det_model(encoder)(x)
    assert tuple(z.shape) == (5, 2, 2, 4)
    assert tuple(log_det.shape) == (5,)
    assert keras.backend.standardize_dtype(log_det.dtype) == "float32"
    np.testing.assert_array_equal(to_numpy(log_det), np.zeros(5))


def test_log_det_of_volume_preserving_flow_with_several_outputs():
    x_in = keras.Input((4, 4, 2))
    z1, z2 = L.Split()(L.Squeeze()(x_in))
    encoder = keras.Model(x_in, [z1, z2])
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 2)).astype("float32")
    *zs, log_det = build_log_det_model(encoder)(x)
    assert [tuple(z.shape) for z in zs] == [(3, 2, 2, 4), (3, 2, 2, 4)]
    assert tuple(log_det.shape) == (3,)
    np.testing.assert_array_equal(to_numpy(log_det), np.zeros(3))
