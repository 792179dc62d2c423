"""Flow models: each a `keras.Model` trained with `compile(optimizer)` + `fit(x)`."""

from keras_flows.models.base import FlowModel
from keras_flows.models.fvae import FVAE
from keras_flows.models.glow import Glow
from keras_flows.models.nice import NICE
from keras_flows.models.realnvp import RealNVP

__all__ = ["FVAE", "FlowModel", "Glow", "NICE", "RealNVP"]
