"""TensorFlow and Keras, imported once, without TensorFlow's start-up chatter on the terminal.

    from model_store.backend import keras, tf

TensorFlow loads (~5 s here) when `keras` or `tf` is first taken from this module, and only the
modules that build, load or run a model take them, so listings and `--help` answer at once. TensorFlow 2.21 writes its start-up notes through absl
before absl is set up, so they reach stderr whatever TF_CPP_MIN_LOG_LEVEL says: oneDNN, "Could
not find cuda drivers", CPU instructions and, on a machine without a GPU, "failed call to
cuInit". All normal there, and alarming to a newcomer. So the import and the GPU probe run with
the process's stderr pointed at /dev/null; a Python error still surfaces, raised once stderr is
back. `MNIST_LAB_VERBOSE=1` (or a command's `--verbose`) shows everything.
"""

import contextlib
import os
import sys

VERBOSE = "MNIST_LAB_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE, "") not in ("", "0")


@contextlib.contextmanager
def _stderr_silenced():
    """Point file descriptor 2 at /dev/null: C++ libraries write there, not to sys.stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _load():
    if not verbose():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # after start-up: errors only
    with contextlib.nullcontext() if verbose() else _stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # the GPU probe, where cuInit fails without a GPU
        import keras
    return tf, keras


def __getattr__(name: str):
    """`from model_store.backend import keras, tf`: the first such import loads TensorFlow."""
    if name not in ("keras", "tf"):
        raise AttributeError(f"module 'model_store.backend' has no attribute {name!r}")
    globals()["tf"], globals()["keras"] = _load()
    return globals()[name]
