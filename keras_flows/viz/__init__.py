"""Pictures: sample grids, two-moons figures, a classifier's confusion matrix.
Attributes are imported on first use, as in `keras_flows.training`."""

from keras_flows.lazy import lazy_attributes

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

__getattr__ = lazy_attributes(__name__, _LAZY)
