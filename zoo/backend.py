"""Importing Keras, once, without TensorFlow's start-up chatter.

TensorFlow 2.19+ writes oneDNN, CUDA-probe and absl notes straight to file descriptor 2
while it loads, whatever `TF_CPP_MIN_LOG_LEVEL` says (tensorflow/tensorflow#100442). CLI
users should see one-line errors, not that, so the import (and the first device probe) runs
with fd 2 pointed at /dev/null. Python exceptions still propagate. Set `ZOO_BACKEND_LOGS=1`
to see everything.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


@contextlib.contextmanager
def _fd2_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def keras_home() -> Path:
    """Keras' cache root (`$KERAS_HOME`, default `~/.keras`): `datasets/` and `models/`."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def load_keras():
    """Import and return `keras`, with its backend initialised quietly."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet = os.environ.get("ZOO_BACKEND_LOGS", "") in ("", "0")
    with _fd2_silenced() if quiet else contextlib.nullcontext():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe logs here, not at import
    return keras


def gpu_available() -> bool:
    """Whether the active Keras backend sees a GPU."""
    keras = load_keras()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def device_name(choice: str) -> str:
    """`keras.device` name for `auto`, `cpu` or `gpu`; a GPU asked for but absent is an error."""
    from zoo.errors import ZooError

    if choice == "cpu":
        return "cpu:0"
    has_gpu = gpu_available()
    if choice == "gpu" and not has_gpu:
        backend = load_keras().backend.backend()
        raise ZooError(f"--device gpu: the {backend} backend sees no GPU on this machine; "
                       "use --device cpu or auto")
    return "gpu:0" if has_gpu else "cpu:0"
