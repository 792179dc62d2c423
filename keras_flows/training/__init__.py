"""Training: the one training path of every recipe and of the command line
(`train`, `load_run`, in `loop`), its callbacks (`callbacks`), the precision it
computes in (`precision`), and the devices
it trains on (`devices`, which the command line reads before Keras starts).

Attributes are imported on first use, as in `keras_flows` itself, so that
`keras_flows.training.devices` loads without Keras.
"""

import importlib

_LAZY = {
    "CtrlCStops": "callbacks",
    "EpochCallback": "callbacks",
    "EpochTimer": "callbacks",
    "KeepBestWeights": "callbacks",
    "LinearWarmup": "callbacks",
    "ResumeState": "callbacks",
    "rate_schedule": "callbacks",
    "float32_copy": "precision",
    "policy_scope": "precision",
    "TrainResult": "loop",
    "load_run": "loop",
    "save_model_config": "loop",
    "train": "loop",
}

__all__ = [*_LAZY, "batches", "devices", "precision", "run_folder"]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"keras_flows.training.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'keras_flows.training' has no attribute {name!r}")
