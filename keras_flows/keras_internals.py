"""The private Keras 3 APIs keras_flows reads, each in one place with a clear
error where a Keras version lacks it: Keras has no public API for a functional
model's layer calls, an optimizer's schedule, or a resumed `fit`'s first epoch."""

import keras


def _missing(what):
    return RuntimeError(
        f"keras_flows reads {what}, which Keras {keras.__version__} does not have; "
        "it supports keras>=3.8,<4 (with JAX: >=3.10)"
    )


def layer_calls(model):
    """A functional model's nodes (one per layer call) in topological order, inputs
    first, from `_nodes_by_depth` (0: the outputs) as `Functional` reads it."""
    by_depth = getattr(model, "_nodes_by_depth", None)
    if by_depth is None:
        raise _missing("a functional model's `_nodes_by_depth`")
    return [node for d in sorted(by_depth, reverse=True) for node in by_depth[d]]


def call_arguments(node, values):
    """`(args, kwargs)` of `node`'s layer call with each symbolic tensor `x`
    replaced by `values[id(x)]` (Keras' `node.arguments.fill_in`)."""
    arguments = getattr(node, "arguments", None)
    if not hasattr(arguments, "fill_in"):
        raise _missing("a node's `arguments.fill_in`")
    return arguments.fill_in(values)


def learning_rate_schedule(optimizer):
    """What the optimizer's learning rate was set to: a `LearningRateSchedule` or its
    variable (the public `learning_rate` evaluates a schedule at the current step)."""
    return getattr(optimizer, "_learning_rate", None)


def start_at_epoch(model, epoch):
    """Makes the `fit` now beginning start at `epoch` (from a callback's
    `on_train_begin`), as Keras' `BackupAndRestore` does."""
    if not hasattr(model, "_initial_epoch"):
        raise _missing("`Model._initial_epoch`")
    model._initial_epoch = epoch
