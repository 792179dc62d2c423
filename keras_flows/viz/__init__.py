"""Pictures: sample grids, two-moons figures, a classifier's confusion matrix.
Attributes are imported on first use, as in `keras_flows.training`."""

import importlib

_LAZY = {
    "confusion_figure": "classifier",
    **dict.fromkeys(
        "class_grid corner_interpolation_grid images_to_grid interpolation_grid "
        "label_grid manipulation_grid reconstruction_grid sample_grid "
        "temperature_sweep tile to_uint8".split(),
        "grids",
    ),
    **dict.fromkeys(
        ["density_figure", "moons_figure", "plot_loss", "temperature_figure"], "moons"
    ),
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"keras_flows.viz.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'keras_flows.viz' has no attribute {name!r}")
