"""What the training tests share: a crash after a given epoch, a checkpoint's weights, and
the `zoo train` subprocesses of the distribution and launch tests."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path

import pytest


class Crash(Exception):
    pass


def crash_after(epochs: int):
    """A callback that raises `Crash` at the end of epoch `epochs` (after its checkpoint)."""
    import keras

    class CrashAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == epochs:
                raise Crash

    return CrashAfter()


def checkpoint_weights(run, epoch, kind="epoch"):
    """Weights of the checkpoint `checkpoint/{kind}-{epoch:04d}.keras` (epoch or periodic)."""
    import keras

    model = keras.saving.load_model(run / "checkpoint" / f"{kind}-{epoch:04d}.keras")
    return model.get_weights()


# Two CPU devices in one process. Their all-reduce is a rendezvous of the two device programs,
# which XLA:CPU aborts when one waits 40 s for the other (xla_cpu_collective_call_terminate_
# timeout_seconds' default): on 2 shared cores a starved device thread can wait that long (seen
# once in the tests beside other work, 7 of 8 times at larger sizes, BENCHMARKS.md). The limit
# is raised below the tests' own process timeouts, so a starved step finishes and a true
# deadlock still fails the test in bounded time.
JAX_TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2 "
                                "--xla_cpu_collective_call_terminate_timeout_seconds=200 "
                                "--xla_cpu_collective_call_warn_stuck_timeout_seconds=100"}


needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="jax is not installed (pip install -e '.[jax]')")


def backend_env(backend: str, cache: Path | None = None, **extra) -> dict:
    """The environment of a `zoo` subprocess on `backend`, on the CPU; `cache`: a JAX
    compilation cache the launches share."""
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", **extra}
    env.pop("XLA_FLAGS", None)
    env.update(extra)
    if backend == "jax":  # tiny steps: compiling them fast matters more than running them fast
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()
    if cache is not None:  # the processes of later launches reuse the compiled steps
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache),
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    return env


def zoo_train(*argv) -> list[str]:
    """The command line of `zoo train ARGV` in a subprocess."""
    return [sys.executable, "-m", "zoo", "train", *map(str, argv)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
