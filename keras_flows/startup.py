"""Starting the Keras backend without TensorFlow's start-up lines.

Importing TensorFlow prints a dozen lines before it reads its own log level
(CUDA probing on a machine without a GPU -- "failed call to cuInit", which is
not an error -- oneDNN notices), and later Python warnings such as "N out of the
last M calls ... triggered tf.function retracing" when `predict` meets batches of
new sizes. `quiet_start()` hides both; the command line calls it unless
`--verbose`, the notebooks before `import keras`. No Keras import here.
"""

import contextlib
import os
import sys

from keras_flows.training.devices import backend_name


@contextlib.contextmanager
def stderr_to_devnull():
    """File descriptor 2 to /dev/null for a while (C++ writes included)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_start():
    """Starts the backend Keras will use with TensorFlow's start-up lines and
    retracing warnings hidden (errors still show); does nothing on JAX."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if backend_name() != "tensorflow" or "tensorflow" in sys.modules:
        return
    with stderr_to_devnull():  # TF 2.21 logs before it reads its log level
        import tensorflow
    tensorflow.get_logger().setLevel("ERROR")
