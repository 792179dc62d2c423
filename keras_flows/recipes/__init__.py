"""Reproduction recipes: load the data, build the model, train, write the run folder.

Each recipe is declared once, as data, in `registry` (Keras-free, so `--help`
does not start Keras); the module of the same name holds its `train`.
"""

from keras_flows.recipes.registry import NAMES, RECIPES, Recipe, declared

__all__ = ["NAMES", "RECIPES", "Recipe", "declared"]
