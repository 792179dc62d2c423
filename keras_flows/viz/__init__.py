"""Pictures: sample grids (uint8 PNGs via imageio) and the two-moons figures
(matplotlib, imported lazily)."""

from keras_flows.viz.grids import (
    images_to_grid,
    interpolation_grid,
    sample_grid,
    temperature_sweep,
    tile,
    to_uint8,
)

__all__ = [
    "images_to_grid",
    "interpolation_grid",
    "sample_grid",
    "temperature_sweep",
    "tile",
    "to_uint8",
]

try:  # the two-moons figures (keras_flows/viz/moons.py)
    from keras_flows.viz.moons import *  # noqa: F401,F403
    from keras_flows.viz.moons import __all__ as _moons_all

    __all__ += list(_moons_all)
except ImportError:  # pragma: no cover - moons.py not written yet
    pass
