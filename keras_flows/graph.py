"""Helpers that read a functional flow (an *encoder*: data -> latent) as a graph.

- `build_decoder(encoder)` builds the generative model by calling the encoder's own
  layers' `.inverse()` in reverse order: the seed code's idiom, done once for every
  model instead of hand-mirrored per model.
- `build_log_det_model(encoder)` returns a model `x -> [z..., log_det]` with the
  per-sample log|det dz/dx| summed over every invertible layer.
- `initialize(encoder, x)` runs data-dependent initialisations (Actnorm) in order.

Non-invertible layers inside the encoder (the conditioner nets of `AddCouple`, say)
are re-run forward in the decoder on the values the decoder has recovered: an
invertible layer declares which inputs only condition it (`condition_inputs`) and
which inputs it copies to an output (`passthrough`), and that is all the walk needs.
"""

import sys
from collections import defaultdict
from contextlib import contextmanager

import keras
from keras import ops, tree

from keras_flows.layers.base import InvertibleLayer


def _producer(tensor):
    history = tensor._keras_history
    return history.operation._inbound_nodes[history.node_index]


def _nodes(model):
    """The model's nodes in topological order (inputs first)."""
    order, seen = [], set()

    def visit(tensor):
        node = _producer(tensor)
        if id(node) not in seen:
            seen.add(id(node))
            for x in node.input_tensors:
                visit(x)
            order.append(node)

    with _deep_recursion():
        for tensor in model.outputs:
            visit(tensor)
    return order


@contextmanager
def _deep_recursion(limit=100_000):
    # Deep flows (Glow with K=32, L=6) nest the walk a few thousand frames deep.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _is_invertible_node(node):
    return isinstance(node.operation, InvertibleLayer)


def _walk_forward(model, inputs, call_node):
    """Evaluates `model`'s graph on `inputs` with `call_node(node, args, kwargs)`."""
    values = {id(x): v for x, v in zip(model.inputs, tree.flatten(inputs))}
    for node in _nodes(model):
        if node.is_input:
            continue
        args, kwargs = node.arguments.fill_in(values)
        outputs = call_node(node, args, kwargs)
        for x, y in zip(node.outputs, tree.flatten(outputs)):
            values[id(x)] = y
    return [values[id(x)] for x in model.outputs]


def build_log_det_model(encoder, name=None):
    """A model `x -> [*encoder outputs, log_det]` sharing the encoder's layers.

    `log_det` has shape `(batch,)`: the sum of every invertible layer's per-sample
    log|det J|, so `log p(x) = log N(z) + log_det` for a standard normal prior.
    """
    log_dets, wrappers = [], {}

    def call_node(node, args, kwargs):
        layer = node.operation
        if not _is_invertible_node(node) or layer.volume_preserving:
            return layer(*args, **kwargs)
        # A functional model reads a layer's output structure off its first call,
        # so the `(outputs, log_det)` calls go through a wrapper of their own.
        wrapper = wrappers.setdefault(id(layer), _WithLogDet(layer))
        outputs, log_det = wrapper(*args, **kwargs)
        log_dets.append(log_det)
        return outputs

    inputs = [keras.Input(batch_shape=x.shape, dtype=x.dtype) for x in encoder.inputs]
    outputs = _walk_forward(encoder, inputs, call_node)
    if log_dets:
        total = log_dets[0]
        for log_det in log_dets[1:]:
            total = ops.add(total, log_det)
    else:
        total = _zeros_per_sample(outputs[0])
    return keras.Model(
        _unwrap(inputs), [*outputs, total], name=name or f"{encoder.name}_log_det"
    )


def _zeros_per_sample(x):
    # Symbolic (batch may be None), so zeros_like of one entry per sample rather
    # than `ops.zeros(batch)`; float32 like every log-det.
    first = x[(slice(None),) + (0,) * (len(x.shape) - 1)]  # (B,)
    return ops.zeros_like(first, dtype="float32")


class _WithLogDet(keras.layers.Layer):
    def __init__(self, layer):
        super().__init__(name=f"{layer.name}_with_log_det")
        self.layer = layer

    def call(self, *args, **kwargs):
        return self.layer(*args, return_log_det=True, **kwargs)


def initialize(encoder, x):
    """Runs data-dependent initialisation (Actnorm `data_init=True`) eagerly on `x`.

    Layers are initialised in order, each from the activations produced by the
    already initialised layers before it. Layers already initialised (for example
    after loading saved weights) are left alone. Returns the number initialised.
    """
    count = 0
    if not any(getattr(op, "needs_initialization", False) for op in encoder.operations):
        return count

    def call_node(node, args, kwargs):
        nonlocal count
        layer = node.operation
        if getattr(layer, "needs_initialization", False):
            layer.initialize(args[0])
            count += 1
        return layer(*args, **kwargs)

    _walk_forward(
        encoder, [ops.convert_to_tensor(v) for v in tree.flatten(x)], call_node
    )
    return count


def build_decoder(encoder, name=None):
    """Builds the inverse of a functional flow from its layers' `.inverse()`.

    The decoder takes the encoder's outputs (the latent side) and returns its inputs.
    Every invertible layer is replaced by its inverse, which shares its variables;
    conditioner nets are called again (same weights) on recovered values.

    Args:
        encoder: a functional `keras.Model` built from `InvertibleLayer`s (plus any
            layers that only compute their conditions).
        name: the decoder's name.

    Returns:
        A functional `keras.Model`.
    """
    nodes = _nodes(encoder)
    consumers = defaultdict(list)
    for node in nodes:
        for position, x in enumerate(node.input_tensors):
            consumers[id(x)].append((node, position))
    inverses, values, pending = {}, {}, set()
    inputs = []
    for i, z in enumerate(encoder.outputs):
        z_name = "z" if len(encoder.outputs) == 1 else f"z_{i}"
        z_in = keras.Input(batch_shape=z.shape, dtype=z.dtype, name=z_name)
        values[id(z)] = z_in
        inputs.append(z_in)

    def inverse_of(layer):
        if id(layer) not in inverses:
            inverses[id(layer)] = layer.inverse()
        return inverses[id(layer)]

    def resolve(x):
        if id(x) in values:
            return values[id(x)]
        if id(x) in pending:
            raise ValueError(
                f"`build_decoder` cannot recover {x.name!r}: its value depends on "
                "itself. Is an output of an invertible layer left unused?"
            )
        pending.add(id(x))
        for node, position in consumers[id(x)]:
            layer = node.operation
            if _is_invertible_node(node) and position not in layer.condition_inputs:
                if position in layer.passthrough:
                    values[id(x)] = resolve(node.outputs[layer.passthrough[position]])
                else:
                    invert(node)
                return values[id(x)]
        node = _producer(x)
        if node.is_input:
            raise ValueError(
                "`build_decoder` cannot recover the encoder input "
                f"{x.name!r}: no invertible layer consumes it."
            )
        recompute(node)
        return values[id(x)]

    def invert(node):
        layer = node.operation
        conditions = [node.input_tensors[c] for c in layer.condition_inputs]
        args = [resolve(y) for y in node.outputs] + [resolve(c) for c in conditions]
        recovered = inverse_of(layer)(args if len(args) > 1 else args[0])
        data_inputs = [
            x
            for position, x in enumerate(node.input_tensors)
            if position not in layer.condition_inputs
        ]
        for x, value in zip(data_inputs, tree.flatten(recovered)):
            values.setdefault(id(x), value)

    def recompute(node):
        for x in node.input_tensors:
            resolve(x)
        args, kwargs = node.arguments.fill_in(values)
        for x, y in zip(node.outputs, tree.flatten(node.operation(*args, **kwargs))):
            values[id(x)] = y

    with _deep_recursion():
        outputs = [resolve(x) for x in encoder.inputs]
    return keras.Model(
        _unwrap(inputs), _unwrap(outputs), name=name or f"{encoder.name}_decoder"
    )


def _unwrap(tensors):
    return tensors[0] if len(tensors) == 1 else tensors
