"""Training in low precision ("bfloat16", "float16": Keras' mixed policies, with
float32 weights, log-dets and loss), evaluating in float32 (`float32_copy`)."""

import contextlib

import keras

PRECISIONS = {
    "float32": "float32",
    "bfloat16": "mixed_bfloat16",
    "float16": "mixed_float16",
}
_LOW = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")


def bfloat16_units():
    """The bfloat16 units this CPU has: `"amx"` (AMX tiles), `"avx512_bf16"`
    (dot-product instructions only), or `None` (or no /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        return None
    flags = set(flags.split())
    if "amx_bf16" in flags:
        return "amx"
    return "avx512_bf16" if "avx512_bf16" in flags else None


def resolve_precision(precision):
    """`(precision, why)`: "auto" becomes "bfloat16" on TensorFlow with a CPU
    that has AMX tiles, else "float32": a bfloat16 step is faster only there
    (with AVX-512 BF16 alone, or on JAX's CPU backend, it is not)."""
    units = bfloat16_units()
    if precision == "bfloat16" and units != "amx":
        why = "as asked, though this CPU has no AMX tiles, where bfloat16 is no faster"
        return "bfloat16", why
    if precision in PRECISIONS:
        return precision, "as asked"
    if precision != "auto":
        raise ValueError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
        )
    if keras.backend.backend() != "tensorflow":
        return "float32", f"auto: {keras.backend.backend()} gains nothing from bfloat16"
    if units is None:
        return "float32", "auto: this CPU has no bfloat16 units"
    if units == "avx512_bf16":
        return "float32", "auto: AVX-512 BF16 but no AMX tiles: bfloat16 is no faster"
    return "bfloat16", "auto: TensorFlow on a CPU with AMX bfloat16 tiles"


@contextlib.contextmanager
def policy_scope(precision):
    """Layers and models built inside compute in `precision` ("auto":
    `resolve_precision`)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[resolve_precision(precision)[0]])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def precision_of(model):
    """The precision `model` computes in: "float32", "bfloat16" or "float16"."""
    return model.weights_model.dtype_policy.name.removeprefix("mixed_")


def float32_copy(model):
    """`model` if it computes in float32, else a float32 copy with its (float32,
    so unrounded) weights."""
    if precision_of(model) == "float32":
        return model
    copy = float32_model(keras.saving.serialize_keras_object(model))
    copy.weights_model.set_weights(model.weights_model.get_weights())
    return copy


def float32_model(config):
    """The model of a Keras `config`, built to compute in float32."""
    with policy_scope("float32"):
        return keras.saving.deserialize_keras_object(_float32_config(config))


def _float32_config(config):
    """`config` with every low-precision dtype policy replaced by float32."""
    if isinstance(config, list):
        return [_float32_config(value) for value in config]
    if not isinstance(config, dict):
        return config
    dtype = config.get("dtype")
    if isinstance(dtype, dict):  # a serialised DTypePolicy
        dtype = dtype.get("config", {}).get("name")
    low = {"dtype": "float32"} if dtype in _LOW else {}
    return {key: _float32_config(value) for key, value in config.items()} | low
