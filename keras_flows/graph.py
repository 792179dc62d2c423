"""Reads a functional flow (an *encoder*: data -> latent) as a graph: builds its
decoder from its layers' `.inverse()`, its log-det model, and runs data-dependent
initialisation."""

import functools
from collections import defaultdict

import keras
from keras import ops, tree

from keras_flows.checks import reject
from keras_flows.keras_internals import call_arguments, layer_calls
from keras_flows.layers.base import InvertibleLayer


def _nodes(model):
    """The model's nodes (one per layer call) in topological order, inputs first."""
    bad = not (hasattr(model, "inputs") and hasattr(model, "outputs"))
    needs = "a functional model, `keras.Model(inputs, outputs)`"
    received = f"model={model!r} of type {type(model).__name__}"
    reject(bad, "keras_flows.graph", needs, received)
    if isinstance(model, keras.Sequential):  # the same layer calls, as a Functional
        model = keras.Model(model.inputs, model.outputs)
    return layer_calls(model)


def _walk_forward(model, inputs, call_node):
    """Evaluates `model`'s graph on `inputs` with `call_node(node, args, kwargs)`."""
    values = {id(x): v for x, v in zip(model.inputs, tree.flatten(inputs))}
    for node in _nodes(model):
        if not node.is_input:
            outputs = call_node(node, *call_arguments(node, values))
            values.update(zip(map(id, node.outputs), tree.flatten(outputs)))
    return [values[id(x)] for x in model.outputs]


def build_log_det_model(encoder, name=None):
    """A model `x -> [*encoder outputs, log_det]` sharing the encoder's layers:
    `log_det`, shape `(batch,)`, sums every invertible layer's log|det J|, so
    `log p(x) = log N(z) + log_det` for a standard normal prior."""
    log_dets, wrappers = [], {}

    def call_node(node, args, kwargs):
        layer = node.operation
        if not isinstance(layer, InvertibleLayer) or layer.volume_preserving:
            return layer(*args, **kwargs)
        # A functional model reads a layer's output structure off its first call,
        # so the `(outputs, log_det)` calls go through a wrapper of their own.
        wrapper = wrappers.setdefault(id(layer), _WithLogDet(layer))
        outputs, log_det = wrapper(*args, **kwargs)
        log_dets.append(log_det)
        return outputs

    inputs = [_input_like(x) for x in encoder.inputs]
    outputs = _walk_forward(encoder, inputs, call_node)
    total = functools.reduce(ops.add, log_dets) if log_dets else _zeros(outputs[0])
    name = name or f"{encoder.name}_log_det"
    return keras.Model(_unwrap(inputs), [*outputs, total], name=name)


def _zeros(x):
    # zeros_like of one entry per sample: `ops.zeros(batch)` needs a known batch.
    first = x[(slice(None),) + (0,) * (len(x.shape) - 1)]  # (B,)
    return ops.zeros_like(first, dtype="float32")


class _WithLogDet(keras.layers.Layer):
    def __init__(self, layer):
        super().__init__(name=f"{layer.name}_with_log_det")
        self.layer = layer

    def call(self, *args, **kwargs):
        return self.layer(*args, return_log_det=True, **kwargs)


def needs_initialization(model):
    """Whether a layer of `model` (a functional model or Sequential net) still
    waits for its data-dependent initialisation."""
    return any(getattr(layer, "needs_initialization", False) for layer in model.layers)


def initialize(encoder, x):
    """Runs data-dependent initialisation (Actnorm `data_init=True`) eagerly on `x`,
    each layer on the activations of the initialised layers before it; layers
    already initialised (e.g. loaded) are left alone. Returns the number done."""
    count = 0
    if not needs_initialization(encoder):
        return count

    def call_node(node, args, kwargs):
        nonlocal count
        layer = node.operation
        if getattr(layer, "needs_initialization", False):
            layer.initialize(args[0])
            count += 1
        return layer(*args, **kwargs)

    _walk_forward(encoder, tree.map_structure(ops.convert_to_tensor, x), call_node)
    return count


def build_decoder(encoder, name=None):
    """Builds the inverse of a functional flow from its layers' `.inverse()`.

    The decoder maps the encoder's outputs back to its inputs: each invertible
    layer is replaced by its inverse (sharing its variables), other layers
    (conditioner nets) are re-run on recovered values. An encoder input that no
    invertible layer takes as data (a class label) is a condition: the decoder
    takes it after the latents and does not return it.

    Args:
        encoder: A functional `keras.Model` of `InvertibleLayer`s (and condition nets).
        name: The decoder's name.
    """
    producers, consumers = {}, defaultdict(list)
    for node in _nodes(encoder):
        for x in node.outputs:
            producers[id(x)] = node
        for position, x in enumerate(node.input_tensors):
            consumers[id(x)].append((node, position))
    inverses, values, inputs = {}, {}, []
    for i, z in enumerate(encoder.outputs):
        z_name = "z" if len(encoder.outputs) == 1 else f"z_{i}"
        inputs.append(_input_like(z, z_name))
        values[id(z)] = inputs[-1]

    def plan(x):
        """How the decoder recovers `x`: `(kind, node, tensors it needs first)`."""
        for node, position in consumers[id(x)]:
            layer = node.operation
            invertible = isinstance(layer, InvertibleLayer)
            if invertible and position not in layer.condition_inputs:
                if position in layer.passthrough:
                    # Copied unchanged to an output: read it back from there.
                    y = node.outputs[layer.passthrough[position]]
                    return "copy", y, [y]
                conditions = [node.input_tensors[c] for c in layer.condition_inputs]
                return "invert", node, [*node.outputs, *conditions]
        node = producers[id(x)]
        if node.is_input:
            return "condition", None, []  # given to the decoder, as to the encoder
        return "recompute", node, node.input_tensors

    def invert(node, needed):
        layer = node.operation
        if id(layer) not in inverses:
            inverses[id(layer)] = layer.inverse()
        recovered = inverses[id(layer)](_unwrap([values[id(y)] for y in needed]))
        cond = layer.condition_inputs
        data = [x for i, x in enumerate(node.input_tensors) if i not in cond]
        for x, value in zip(data, tree.flatten(recovered)):
            values.setdefault(id(x), value)

    def recompute(node):
        args, kwargs = call_arguments(node, values)
        outputs = node.operation(*args, **kwargs)
        values.update(zip(map(id, node.outputs), tree.flatten(outputs)))

    # A depth-first walk with an explicit stack (a deep flow would overflow
    # Python's recursion limit): a tensor is computed once all the tensors its
    # plan needs are known; `expanded` holds the tensors on the current path.
    expanded, conditions = set(), []
    stack = list(reversed(encoder.inputs))  # the first one is computed first
    while stack:
        x = stack[-1]
        if id(x) in values:
            stack.pop()
            continue
        kind, source, needed = plan(x)
        missing = [y for y in needed if id(y) not in values]
        if not missing:
            if kind == "condition":
                values[id(x)] = _input_like(x, x.name)
                conditions.append(x)
            elif kind == "copy":
                values[id(x)] = values[id(source)]
            elif kind == "invert":
                invert(source, needed)
            else:
                recompute(source)
            expanded.discard(id(x))
            stack.pop()
            continue
        if id(x) in expanded or any(id(y) in expanded for y in missing):
            raise ValueError(
                f"`build_decoder` cannot recover {x.name!r}: its value depends "
                "on itself. Is an output of an invertible layer left unused?"
            )
        expanded.add(id(x))
        stack.extend(reversed(missing))
    inputs += [values[id(x)] for x in conditions]
    given = {id(x) for x in conditions}
    outputs = [values[id(x)] for x in encoder.inputs if id(x) not in given]
    name = name or f"{encoder.name}_decoder"
    return keras.Model(_unwrap(inputs), _unwrap(outputs), name=name)


def _unwrap(tensors):
    return tensors[0] if len(tensors) == 1 else tensors


def _input_like(x, name=None):
    return keras.Input(batch_shape=x.shape, dtype=x.dtype, name=name)
