"""keras_flows: flow-based generative models (NICE, RealNVP, Glow, f-VAE) in Keras 3.

Layers live in `keras_flows.layers`, models in `keras_flows.models`. Attributes are
imported on first use, so the command line starts without loading Keras."""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "build_decoder": "keras_flows.graph",
    "build_log_det_model": "keras_flows.graph",
    "initialize": "keras_flows.graph",
    "load_run": "keras_flows.training",
}

__all__ = [*_LAZY, "layers", "models"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("layers", "models", "viz", "data", "nets", "training", "graph"):
        return importlib.import_module(f"keras_flows.{name}")
    raise AttributeError(f"module 'keras_flows' has no attribute {name!r}")
