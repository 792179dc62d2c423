"""The `keras-flows` command line: `main.py` parses and dispatches; `train`,
`sample` and `manipulate` run the commands; `flags` declares their options."""

from keras_flows.cli.main import main

__all__ = ["main"]
