"""Pictures: sample grids, two-moons figures, a classifier's confusion matrix."""

from keras_flows.viz.classifier import confusion_figure
from keras_flows.viz.grids import (
    class_grid,
    corner_interpolation_grid,
    images_to_grid,
    interpolation_grid,
    label_grid,
    manipulation_grid,
    reconstruction_grid,
    sample_grid,
    temperature_sweep,
    tile,
    to_uint8,
)
from keras_flows.viz.moons import (
    density_figure,
    moons_figure,
    plot_loss,
    temperature_figure,
)

__all__ = [
    "class_grid",
    "confusion_figure",
    "corner_interpolation_grid",
    "density_figure",
    "images_to_grid",
    "interpolation_grid",
    "label_grid",
    "manipulation_grid",
    "moons_figure",
    "plot_loss",
    "reconstruction_grid",
    "sample_grid",
    "temperature_figure",
    "temperature_sweep",
    "tile",
    "to_uint8",
]
