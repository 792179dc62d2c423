"""keras_flows: flow-based generative models (NICE, RealNVP, Glow, f-VAE) in Keras 3.

Invertible layers live in `keras_flows.layers`, models in `keras_flows.models`.
"""

from keras_flows import layers
from keras_flows.graph import build_decoder, build_log_det_model, initialize

__version__ = "0.1.0"

__all__ = ["build_decoder", "build_log_det_model", "initialize", "layers"]
