"""Training: the one training path (`train`, `load_run`), its callbacks, its
precision and its devices. Attributes are imported on first use, so that
`keras_flows.training.devices` loads without Keras (the command line needs it)."""

from keras_flows.lazy import lazy_attributes

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

__getattr__ = lazy_attributes(__name__, _LAZY)
