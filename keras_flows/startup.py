"""`quiet_start()`, which the command line (unless `--verbose`) and the notebooks
call before `import keras` to hide TensorFlow's CUDA probing and oneDNN notices."""

import os
import sys

from keras_flows.training.devices import backend_name


def quiet_start():
    """Starts the backend Keras will use with TensorFlow's start-up lines and
    retracing warnings hidden (errors still show); does nothing on JAX."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if backend_name() != "tensorflow" or "tensorflow" in sys.modules:
        return
    # TF 2.21 logs (from C++ too) before it reads its log level: fd 2 to /dev/null.
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tensorflow.get_logger().setLevel("ERROR")
