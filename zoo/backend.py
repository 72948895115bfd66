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


@contextlib.contextmanager
def quiet_native_logs():
    """Silence fd 2 unless `ZOO_BACKEND_LOGS=1`: for code that may import TensorFlow late
    (`keras.utils.set_random_seed` imports it to seed it, whatever the backend)."""
    quiet = os.environ.get("ZOO_BACKEND_LOGS", "") in ("", "0")
    with _fd2_silenced() if quiet else contextlib.nullcontext():
        yield


def keras_home() -> Path:
    """Keras' cache root (`$KERAS_HOME`, default `~/.keras`): `datasets/` and `models/`."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def backend_name() -> str:
    """The backend Keras will load, without loading it: `KERAS_BACKEND`, else the one
    `keras.json` names, else tensorflow (Keras' own order)."""
    import json

    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    try:
        return json.loads((keras_home() / "keras.json").read_text()).get("backend",
                                                                         "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def prefer_onednn() -> None:
    """Ask TensorFlow for its oneDNN CPU kernels, unless `TF_ENABLE_ONEDNN_OPTS` says.

    TensorFlow 2.21 turns oneDNN on by itself only on CPUs with AVX512_VNNI, AVX512_BF16,
    AVX_VNNI or AMX (Intel Cascade Lake and newer, AMD Zen 4); on an AVX2-only CPU (AMD
    EPYC Zen 3, older Xeons) it falls back to Eigen's kernels, and the convolutions and batch
    norms of zoo's networks train at about half the speed (BENCHMARKS.md, issue 18). zoo
    takes the same kernels on every x86 CPU, so its speed does not depend on the CPU's
    generation. The variable is read when TensorFlow loads, so the one call is in
    `zoo/__init__.py`, which runs before any module of zoo can import TensorFlow (several
    import Keras at module level). `TF_ENABLE_ONEDNN_OPTS=0` in the environment keeps
    Eigen's kernels.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def load_keras():
    """Import and return `keras`, with its backend initialised quietly."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_logs():
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
    """`keras.device` name for `auto`, `cpu` or `gpu`; a GPU asked for but absent is an error.

    Plain `cpu`/`gpu`, not `cpu:0`: under the torch backend `keras.device("cpu:0")` moves
    every variable off its Parameter, and a Dropout's integer seed state then fails to load.
    """
    from zoo.errors import ZooError

    if choice == "cpu":
        return "cpu"
    has_gpu = gpu_available()
    if choice == "gpu" and not has_gpu:
        backend = load_keras().backend.backend()
        raise ZooError(f"--device gpu: the {backend} backend sees no GPU on this machine; "
                       "use --device cpu or auto")
    return "gpu" if has_gpu else "cpu"


def rng_state() -> dict:
    """Random state that Keras' seed generators do not hold, as numpy arrays.

    Under torch, a Dropout without a seed draws its mask from torch's global generator
    (keras/src/backend/torch/random.py, the unseeded fast path), so an exact resume needs that
    generator's state too. TensorFlow and JAX draw from the layers' seed generators, which
    the checkpoint already saves.
    """
    if load_keras().backend.backend() != "torch":
        return {}
    import torch

    state = {"torch_cpu": torch.get_rng_state().numpy()}
    if torch.cuda.is_available():
        for i, cuda in enumerate(torch.cuda.get_rng_state_all()):
            state[f"torch_cuda_{i}"] = cuda.numpy()
    return state


def set_rng_state(state) -> None:
    """Restore what `rng_state` returned (entries of another backend are ignored)."""
    if load_keras().backend.backend() != "torch" or "torch_cpu" not in state:
        return
    import torch

    torch.set_rng_state(torch.from_numpy(state["torch_cpu"].copy()))
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            if f"torch_cuda_{i}" in state:
                torch.cuda.set_rng_state(torch.from_numpy(state[f"torch_cuda_{i}"].copy()), i)


def predict_batch(model, x, size: int):
    """`model.predict_on_batch(x)` with `x` padded to `size` rows (zeros), the padding's
    outputs dropped. A model then sees one input shape however its batches end (the last
    one short, or unreadable files dropped), so backends that compile per shape
    (TensorFlow's tf.function, JAX's jit) trace once, not once per shape, and TensorFlow's
    "triggered tf.function retracing" warnings stay off the terminal. Rows are independent
    at inference, so the real rows' outputs are unchanged."""
    import numpy as np

    count = len(x)
    if count < size:
        x = np.concatenate([x, np.zeros((size - count, *x.shape[1:]), dtype=x.dtype)])
    return np.asarray(model.predict_on_batch(x))[:count]
