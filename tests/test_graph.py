"""Tests of the graph helpers (`keras_flows.graph`): decoder, log-det model, walk."""

import sys

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_flows import build_decoder, build_log_det_model, graph
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


@pytest.mark.slow
def test_deep_flow_needs_no_deep_recursion(monkeypatch):
    """The helpers walk the graph with explicit stacks, under the default limit.

    Keras 3.15's own functional constructor (`map_graph`) recurses once per node,
    so about 900 layers is the deepest functional model it builds under the
    default recursion limit of 1000; 600 layers are far deeper than a recursive
    walk of our own could go (it needs two to three frames per layer).
    """

    def refuse(limit):
        raise AssertionError("keras_flows.graph must not raise the recursion limit")

    monkeypatch.setattr(sys, "setrecursionlimit", refuse)
    x_in = keras.Input((4,))
    x = x_in
    for i in range(600):
        x = L.Actnorm()(x) if i % 100 == 0 else L.Shuffle("reverse")(x)
    encoder = keras.Model(x_in, x)
    data = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    z, log_det = build_log_det_model(encoder)(data)
    assert tuple(log_det.shape) == (2,)
    np.testing.assert_allclose(to_numpy(build_decoder(encoder)(z)), data, atol=1e-6)


def test_graph_reads_keras_functional_nodes():
    """Fails loudly if a Keras upgrade changes the one private structure that
    `keras_flows.graph` reads (see `graph._nodes`)."""
    x_in = keras.Input((4, 4, 2), name="x")
    squeeze, split, concat = L.Squeeze(), L.Split(), L.Concat()
    x1, x2 = split(squeeze(x_in))
    encoder = keras.Model(x_in, concat([x2, x1]))
    nodes = graph._nodes(encoder)
    assert [node.operation for node in nodes if not node.is_input] == [
        squeeze,
        split,
        concat,
    ]
    assert nodes[0].is_input and nodes[0].outputs == [x_in]
    assert nodes[-1].outputs == encoder.outputs
    assert nodes[-1].input_tensors == [x2, x1]


def test_decoder_of_a_sequential_flow():
    encoder = keras.Sequential(
        [keras.Input((4, 4, 1)), L.Squeeze(), L.Actnorm(), L.Permute("reverse")]
    )
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 1)).astype("float32")
    z = encoder(x)
    np.testing.assert_allclose(to_numpy(build_decoder(encoder)(z)), x, atol=1e-6)
    assert tuple(build_log_det_model(encoder)(x)[1].shape) == (2,)


def test_graph_explains_a_model_it_cannot_read():
    class NotFunctional(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="functional"):
        build_decoder(NotFunctional())
