"""How the package's objects are named and saved."""

import keras

register = keras.saving.register_keras_serializable(package="keras_flows")


def named(name, part):
    """`"{name}_{part}"`, or `None` (Keras names the layer) when `name` is `None`."""
    return None if name is None else f"{name}_{part}"


def deserialize_layers(config, *keys):
    """A copy of `config` with the serialised layers under `keys` deserialised."""
    config = dict(config)
    for key in keys:
        if isinstance(config.get(key), dict):
            config[key] = keras.saving.deserialize_keras_object(config[key])
    return config
