"""Training: the one training path (`train`, `load_run`), its callbacks, its
precision and its devices. Attributes are imported on first use, so that
`keras_flows.training.devices` loads without Keras (the command line needs it)."""

import importlib

_LAZY = {
    **dict.fromkeys(
        "CtrlCStops EpochCallback EpochTimer KeepBestWeights LinearWarmup "
        "ResumeState rate_schedule".split(),
        "callbacks",
    ),
    **dict.fromkeys(["float32_copy", "policy_scope"], "precision"),
    **dict.fromkeys(["TrainResult", "load_run", "save_model_config", "train"], "loop"),
}

__all__ = [*_LAZY, "batches", "devices", "precision", "run_folder"]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"keras_flows.training.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'keras_flows.training' has no attribute {name!r}")
