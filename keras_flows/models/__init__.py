"""Flow models: each a `keras.Model` trained with `compile(optimizer)` + `fit(x)`."""

from keras_flows.models.base import FlowModel

__all__ = ["FlowModel"]
from keras_flows.models.nice import NICE  # noqa: E402

__all__ += ["NICE"]
