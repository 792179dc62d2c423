"""One parametrized suite over every invertible layer."""

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
import pytest
from conftest import BACKEND, jacobian, randomize, to_numpy
from keras import ops

from keras_flows import build_decoder
from keras_flows import layers as L
from keras_flows.models import FlowModel


def _mlp(dim, out, activation=None):
    return keras.Sequential(
        [
            keras.Input((dim,)),
            keras.layers.Dense(8, activation="tanh"),
            keras.layers.Dense(out, activation=activation, kernel_initializer="zeros"),
        ]
    )


def _conv(channels):
    return keras.Sequential(
        [
            keras.Input((None, None, channels)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(
                channels, 3, padding="same", kernel_initializer="zeros"
            ),
        ]
    )


def _vector_coupling(layer, x):
    x1, x2 = L.SplitVector()(x)
    x1, x2 = layer([x1, x2])
    return L.ConcatVector()([x1, x2])


def _image_coupling(layer, x):
    x1, x2 = L.Split()(x)
    x1, x2 = layer([x1, x2])
    return L.Concat()([x1, x2])


@dataclasses.dataclass
class Case:
    id: str
    make: Callable  # () -> layer
    shapes: list  # per-sample shapes of the layer's inputs (one entry: a tensor)
    flow: Callable  # (layer, x) -> z: the layer inside a single-input flow
    data_shape: tuple  # per-sample shape of that flow's input

    def inputs(self, batch=3, seed=0):
        rng = np.random.default_rng(seed)
        arrays = [rng.normal(size=(batch, *s)).astype("float32") for s in self.shapes]
        return arrays[0] if len(arrays) == 1 else arrays


def _plain(layer, x):
    return layer(x)


CASES = [
    Case("shuffle_reverse", lambda: L.Shuffle("reverse"), [(6,)], _plain, (6,)),
    Case("shuffle_random", lambda: L.Shuffle("random", seed=3), [(6,)], _plain, (6,)),
    Case(
        "permute_random",
        lambda: L.Permute("random", seed=1),
        [(2, 2, 6)],
        _plain,
        (2, 2, 6),
    ),
    Case(
        "permute_reverse", lambda: L.Permute("reverse"), [(2, 2, 3)], _plain, (2, 2, 3)
    ),
    Case("inv_conv_1x1", lambda: L.InvConv1x1(seed=0), [(2, 2, 4)], _plain, (2, 2, 4)),
    Case("inv_conv_1x1_vector", lambda: L.InvConv1x1(seed=5), [(5,)], _plain, (5,)),
    Case(
        "inv_conv_1x1_data_init",
        lambda: L.InvConv1x1(seed=0, data_init=True),
        [(2, 2, 4)],
        _plain,
        (2, 2, 4),
    ),
    Case(
        "split_vector",
        L.SplitVector,
        [(6,)],
        lambda layer, x: L.ConcatVector()(layer(x)),
        (6,),
    ),
    Case(
        "concat_vector",
        L.ConcatVector,
        [(3,), (3,)],
        lambda layer, x: layer(L.SplitVector()(x)),
        (6,),
    ),
    Case(
        "add_couple",
        L.AddCouple,
        [(3,), (3,), (3,)],
        lambda layer, x: (
            lambda x1, x2: L.ConcatVector()(layer([x1, x2, _mlp(3, 3)(x1)]))
        )(*L.SplitVector()(x)),
        (6,),
    ),
    Case("scale", L.Scale, [(5,)], _plain, (5,)),
    Case("actnorm", L.Actnorm, [(3, 2, 3)], _plain, (3, 2, 3)),
    Case("actnorm_vector", L.Actnorm, [(4,)], _plain, (4,)),
    Case(
        "actnorm_no_shift",
        lambda: L.Actnorm(use_shift=False),
        [(2, 2, 3)],
        _plain,
        (2, 2, 3),
    ),
    Case(
        "cond_actnorm",
        L.CondActnorm,
        [(2, 2, 2), (2, 2, 3)],
        lambda layer, x: (lambda x1, x2: L.Concat()([x1, layer([x2, x1])]))(
            *L.Split()(x)
        ),
        (2, 2, 4),
    ),
    Case("squeeze", L.Squeeze, [(4, 2, 2)], _plain, (4, 2, 2)),
    Case("squeeze_3", lambda: L.Squeeze(3), [(3, 3, 1)], _plain, (3, 3, 1)),
    Case("unsqueeze", L.UnSqueeze, [(2, 1, 8)], _plain, (2, 1, 8)),
    Case(
        "split",
        L.Split,
        [(2, 2, 5)],
        lambda layer, x: L.Concat()(layer(x)),
        (2, 2, 5),
    ),
    Case(
        "concat",
        L.Concat,
        [(2, 2, 2), (2, 2, 3)],
        lambda layer, x: layer(L.Split()(x)),
        (2, 2, 5),
    ),
    Case("flatten", L.Flatten, [(2, 2, 3)], _plain, (2, 2, 3)),
    Case(
        "additive_couple",
        lambda: L.AffineCouple(_mlp(3, 3)),
        [(3,), (3,)],
        _vector_coupling,
        (6,),
    ),
    Case(
        "affine_couple",
        lambda: L.AffineCouple(_mlp(3, 3), _mlp(3, 3)),
        [(3,), (3,)],
        _vector_coupling,
        (6,),
    ),
    Case(
        "affine_couple_conv",
        lambda: L.AffineCouple(_conv(2), _conv(2)),
        [(2, 2, 2), (2, 2, 2)],
        _image_coupling,
        (2, 2, 4),
    ),
    Case(
        "affine_couple_shared_sigmoid",
        lambda: L.AffineCouple(_mlp(3, 6), scale="sigmoid"),
        [(3,), (3,)],
        _vector_coupling,
        (6,),
    ),
    Case(
        "affine_couple_shared_tanh",
        lambda: L.AffineCouple(_mlp(3, 6), scale="tanh"),
        [(3,), (3,)],
        _vector_coupling,
        (6,),
    ),
    Case(
        "affine_couple_two_nets_exp",
        lambda: L.AffineCouple(_mlp(3, 3), _mlp(3, 3), scale="exp"),
        [(3,), (3,)],
        _vector_coupling,
        (6,),
    ),
    Case(
        "affine_couple_shared_sigmoid_conv",
        lambda: L.AffineCouple(
            keras.Sequential(
                [
                    keras.Input((None, None, 2)),
                    keras.layers.Conv2D(4, 3, padding="same"),
                ]
            ),
            scale="sigmoid",
        ),
        [(2, 2, 2), (2, 2, 2)],
        _image_coupling,
        (2, 2, 4),
    ),
    Case(
        "masked_couple",
        lambda: L.MaskedCouple([1, 0], _mlp(2, 2), _mlp(2, 2, "tanh")),
        [(2,)],
        _plain,
        (2,),
    ),
    Case("uniform_noise", lambda: L.UniformNoise(0.0, 1 / 256), [(3,)], _plain, (3,)),
    Case("dequantize_5_bits", lambda: L.Dequantize(5, seed=0), [(3,)], _plain, (3,)),
]


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _pack(items):
    return items[0] if len(items) == 1 else items


def _inverse_inputs(layer, x, y):
    conditions = [_as_list(x)[c] for c in layer.condition_inputs]
    return _pack(_as_list(y) + conditions)


def _data_inputs(layer, x):
    return [v for p, v in enumerate(_as_list(x)) if p not in layer.condition_inputs]


def _built(case):
    layer = case.make()
    layer(case.inputs())
    randomize(layer)
    return layer


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request):
    return request.param


def test_round_trip_at_another_batch_size(case):
    layer = _built(case)  # built on a batch of 3
    x = case.inputs(batch=4, seed=1)
    y, log_det = layer.forward_and_log_det(x)
    assert tuple(log_det.shape) == (4,)
    assert all(o.shape[0] == 4 for o in _as_list(y))
    x_back = layer.inverse()(_inverse_inputs(layer, x, y))
    for a, b in zip(_data_inputs(layer, x), _as_list(x_back)):
        np.testing.assert_allclose(to_numpy(b), a, atol=1e-5)


def _flat_map(layer, x, i):
    """`fn: v -> flat outputs` for sample `i`, `v` = its flattened data inputs."""
    parts = [p[i : i + 1] for p in _as_list(x)]
    data = [p for p in range(len(parts)) if p not in layer.condition_inputs]

    def fn(v):
        new = [ops.convert_to_tensor(p) for p in parts]
        offset = 0
        for p in data:
            size = parts[p].size
            new[p] = ops.reshape(v[offset : offset + size], parts[p].shape)
            offset += size
        out = _as_list(layer(_pack(new)))
        return ops.concatenate([ops.reshape(o, (-1,)) for o in out], axis=0)

    return fn, np.concatenate([parts[p].ravel() for p in data])


def test_log_det_matches_autodiff_jacobian(case):
    layer = _built(case)
    x = case.inputs(batch=2, seed=2)
    _, log_det = layer.forward_and_log_det(x)
    for i in range(2):
        jac = jacobian(*_flat_map(layer, x, i))
        assert jac.shape[0] == jac.shape[1]
        sign, log_abs_det = np.linalg.slogdet(jac.astype("float64"))
        assert sign != 0
        np.testing.assert_allclose(to_numpy(log_det)[i], log_abs_det, atol=1e-4)


def test_inverse_log_det_is_minus_forward(case):
    layer = _built(case)
    x = case.inputs(batch=3, seed=3)
    y, log_det = layer.forward_and_log_det(x)
    _, inverse_log_det = layer.inverse().forward_and_log_det(
        _inverse_inputs(layer, x, y)
    )
    assert tuple(log_det.shape) == (3,)
    np.testing.assert_allclose(to_numpy(inverse_log_det), -to_numpy(log_det), atol=1e-5)


def test_inverse_shares_variables(case):
    layer = _built(case)
    inverse = layer.inverse()
    x = case.inputs()
    inverse(_inverse_inputs(layer, x, layer(x)))
    forward_ids = {id(w) for w in layer.weights}
    assert {id(w) for w in inverse.weights} == forward_ids
    assert inverse.inverse() is layer
    assert not isinstance(inverse, keras.layers.Lambda)


def test_get_config_round_trip(case):
    layer = _built(case)
    x = case.inputs()
    clone = type(layer).from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    for a, b in zip(_as_list(layer(x)), _as_list(clone(x))):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-6)


def test_inverse_get_config_round_trip(case):
    layer = _built(case)
    x = case.inputs()
    y = _inverse_inputs(layer, x, layer(x))
    inverse = layer.inverse()
    clone = L.Inverse.from_config(inverse.get_config())
    assert type(clone.inverse()) is type(layer)
    clone(y)
    clone.set_weights(inverse.get_weights())
    for a, b in zip(_as_list(inverse(y)), _as_list(clone(y))):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-6)


def test_symbolic_flow_fits_and_saves(case, tmp_path):
    layer = case.make()
    x_in = keras.Input(case.data_shape)
    encoder = keras.Model(x_in, case.flow(layer, x_in))
    randomize(layer)
    model = FlowModel(encoder)
    # Eager on TensorFlow (tracing a train step costs more than two eager steps;
    # the model suite trains in graphs); JAX compiles faster than it runs eagerly.
    model.compile(keras.optimizers.Adam(1e-3), run_eagerly=BACKEND == "tensorflow")
    x = np.random.default_rng(4).normal(size=(8, *case.data_shape)).astype("float32")
    history = model.fit(x, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()

    # Direct calls rather than `predict`: no graph to trace for a few samples.
    decoder = build_decoder(encoder)
    z = to_numpy(encoder(x))
    np.testing.assert_allclose(to_numpy(decoder(z)), x, atol=1e-5)
    for name, model_ in (("encoder", encoder), ("decoder", decoder)):
        path = tmp_path / f"{name}.keras"
        model_.save(path)
        loaded = keras.models.load_model(path)
        given = x if name == "encoder" else z
        np.testing.assert_allclose(
            to_numpy(loaded(given)), to_numpy(model_(given)), atol=1e-6
        )


@pytest.fixture
def set_global_policy():
    """`keras.mixed_precision.set_global_policy`, reset to float32 after the test."""
    try:
        yield keras.mixed_precision.set_global_policy
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _is_float(x):
    return keras.backend.is_float_dtype(keras.backend.standardize_dtype(x.dtype))


def _dtype(x):
    return keras.backend.standardize_dtype(x.dtype)


@pytest.mark.slow
def test_mixed_float16_keeps_log_dets_in_float32(case, set_global_policy):
    x = case.inputs(batch=4, seed=5)
    reference = _built(case)  # float32
    y32, log_det32 = reference.forward_and_log_det(x)

    set_global_policy("mixed_float16")
    layer = case.make()
    layer(x)
    layer.set_weights(reference.get_weights())
    y, log_det = layer.forward_and_log_det(x)
    x_back, inverse_log_det = layer.inverse().forward_and_log_det(
        _inverse_inputs(layer, x, y)
    )
    # Outputs in the compute dtype; every log-det (and the loss) in float32, because
    # a float16 sum of thousands of log-scales keeps no digits at all.
    assert all(_dtype(o) == "float16" for o in _as_list(y) if _is_float(o))
    for value in (log_det, inverse_log_det):
        assert _dtype(value) == "float32"
        assert tuple(value.shape) == (4,)
    assert all(_dtype(loss) == "float32" for loss in layer.losses)
    for a, b in zip(_as_list(y32), _as_list(y)):
        np.testing.assert_allclose(to_numpy(b), to_numpy(a), rtol=1e-2, atol=1e-2)
    for a, b in zip(_data_inputs(layer, x), _as_list(x_back)):
        np.testing.assert_allclose(to_numpy(b), a, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(to_numpy(log_det), to_numpy(log_det32), atol=1e-2)
    np.testing.assert_allclose(
        to_numpy(inverse_log_det), -to_numpy(log_det32), atol=1e-2
    )
