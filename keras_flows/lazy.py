"""Package attributes imported on first use, so that a package can be read
before Keras starts (the command line needs that)."""

import importlib


def lazy_attributes(package, modules):
    """A module-level `__getattr__` for `package`: attribute `name` comes from
    the submodule `package.<modules[name]>`, imported when first asked for."""

    def __getattr__(name):
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{modules[name]}"), name)

    return __getattr__
