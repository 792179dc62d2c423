"""Invertible layers. Each has `inverse()`, `forward_and_log_det(x)` and adds
`-mean(log_det)` to its model's losses (see `InvertibleLayer`)."""

from keras_flows.layers.base import Inverse, InvertibleLayer
from keras_flows.layers.couplings import AddCouple, AffineCouple, MaskedCouple
from keras_flows.layers.noise import Dequantize, UniformNoise
from keras_flows.layers.normalization import Actnorm, CondActnorm, Scale
from keras_flows.layers.permutations import InvConv1x1, Permute, Shuffle
from keras_flows.layers.reshaping import (
    Concat,
    ConcatVector,
    Flatten,
    Split,
    SplitVector,
    Squeeze,
    UnSqueeze,
)

__all__ = [
    "Actnorm",
    "AddCouple",
    "AffineCouple",
    "Concat",
    "ConcatVector",
    "CondActnorm",
    "Dequantize",
    "Flatten",
    "InvConv1x1",
    "Inverse",
    "InvertibleLayer",
    "MaskedCouple",
    "Permute",
    "Scale",
    "Shuffle",
    "Split",
    "SplitVector",
    "Squeeze",
    "UnSqueeze",
    "UniformNoise",
]
