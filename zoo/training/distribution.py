"""Data-parallel training on the engines Keras maintains, never a home-made one.

    --distribute none            one device (Keras' default placement), as before
    --distribute data-parallel   every device: the model is replicated, each global batch is
                                 split between the devices and the gradients are all-reduced
        JAX:        keras.distribution.DataParallel, over every device of every process;
                    several processes (hosts) join through jax.distributed.initialize
        TensorFlow: tf.distribute.MirroredStrategy over the GPUs of one host (Keras 3 does
                    not support MultiWorkerMirroredStrategy: keras-team/keras#20585)
        torch:      refused (Keras' torch distribution is not released)

`--batch-size` is the global batch. Each process's pipeline reads only its share of every
batch (`zoo.data.pipeline.make_sequence(shard=...)`), in the same (seed, epoch, batch) order
as a single process; process 0 alone writes the run directory.

How a process joins the others (coordinator, process ids) is `zoo.training.launch`, free of
Keras; this module starts the distribution and returns it: the trainer passes it on (no
module global holds it).

`ZOO_CPU_DEVICES=N` splits the CPU into N devices (JAX: `jax_num_cpu_devices`, TensorFlow:
logical devices), so that data-parallel code runs without accelerators; JAX also honours
`XLA_FLAGS=--xla_force_host_platform_device_count=N`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass, field

from zoo.errors import ZooError
from zoo.training.launch import Launch, check, join, parse_int

log = logging.getLogger("zoo")


@dataclass
class Distribution:
    """Where a run trains: the devices, this process's place among the processes, and the
    batch each device and each process gets."""

    mode: str
    backend: str
    devices: list[str]
    global_batch: int
    num_processes: int = 1
    process_id: int = 0
    _strategy: object = field(default=None, repr=False)  # TensorFlow's MirroredStrategy
    _keras_distribution: object = field(default=None, repr=False)  # JAX's DataParallel

    @property
    def parallel(self) -> bool:
        return self.mode == "data-parallel"

    @property
    def is_writer(self) -> bool:
        """Process 0 writes the run directory; the others only train."""
        return self.process_id == 0

    @property
    def per_device_batch(self) -> int:
        return self.global_batch // len(self.devices)

    @property
    def process_batch(self) -> int:
        """What this process's pipeline yields per step: its share of the global batch."""
        return self.global_batch // self.num_processes

    def shard(self) -> tuple[int, int] | None:
        return (self.process_id, self.num_processes) if self.num_processes > 1 else None

    def batch_multiple(self) -> int:
        """A batch must split evenly between the devices: the short last batch of an epoch
        is cut to a multiple of this (under data-parallel)."""
        return len(self.devices) if self.parallel else 1

    @contextlib.contextmanager
    def scope(self):
        """Where models are built, loaded, compiled and trained."""
        if self._strategy is not None:
            with self._strategy.scope():
                yield
        elif self._keras_distribution is not None:
            with self._keras_distribution.scope():
                yield
        else:
            yield

    def record(self) -> dict:
        """What `metrics.json` and the start of the run say about it."""
        return {"mode": self.mode, "backend": self.backend, "devices": self.devices,
                "processes": self.num_processes, "global_batch": self.global_batch,
                "per_device_batch": self.per_device_batch}

    def describe(self) -> str:
        where = (f"{len(self.devices)} device{'s' if len(self.devices) > 1 else ''} "
                 f"({', '.join(self.devices)})")
        procs = (f" in {self.num_processes} processes, {self.process_batch} images read by "
                 "each" if self.num_processes > 1 else "")
        return (f"{self.mode} on {where}{procs}: global batch {self.global_batch}, "
                f"{self.per_device_batch} per device")


@contextlib.contextmanager
def local():
    """No distribution inside: for process 0's own saves. Keras' JAX saving builds a
    throw-away optimizer whose variables, under a multi-process distribution, would wait for
    the other processes in a collective."""
    import keras

    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        yield
        return
    saved = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(saved)


def setup(mode: str, batch_size: int, launch: Launch | None = None) -> Distribution:
    """Start the distribution `mode` for a global batch of `batch_size`: join the other
    processes, pick the devices, check the batch splits evenly. Call it before any model or
    tensor exists (JAX must join the cluster before its first computation)."""
    import keras

    launch = launch or Launch()
    backend = keras.backend.backend()
    check(mode, launch, backend)
    if mode == "none":
        return Distribution(mode, backend, [_default_device(backend)], batch_size)
    dist = _tensorflow(batch_size) if backend == "tensorflow" else _jax(batch_size, launch)
    _check_batch(dist)
    return dist


def reset() -> None:
    """Forget Keras' distribution (a test or a notebook training again in one process)."""
    import keras

    if keras.backend.backend() == "jax":
        keras.distribution.set_distribution(None)


def _check_batch(dist: Distribution) -> None:
    count = len(dist.devices)
    if dist.global_batch % count:
        low = dist.global_batch - dist.global_batch % count
        raise ZooError(f"--batch-size {dist.global_batch} does not split evenly between "
                       f"{count} devices: use a multiple of {count} (say {low or count} or "
                       f"{low + count})")


def _default_device(backend: str) -> str:
    from zoo.backend import gpu_available

    return "gpu:0" if gpu_available() else "cpu:0"


def _cpu_devices() -> int:
    text = os.environ.get("ZOO_CPU_DEVICES", "")
    if not text:
        return 0
    count = parse_int(text, "ZOO_CPU_DEVICES")
    if count < 1:
        raise ZooError(f"ZOO_CPU_DEVICES must be at least 1; got {count}")
    return count


# ---------------------------------------------------------------------------------------------
# JAX: keras.distribution.DataParallel, processes joined by jax.distributed.initialize


def _jax(batch_size: int, launch: Launch) -> Distribution:
    import jax
    import keras

    cpus = _cpu_devices()
    if cpus:
        jax.config.update("jax_num_cpu_devices", cpus)
    if launch.multi_process:
        join(launch)
    devices = jax.devices()
    names = [f"{d.platform}:{d.id}" for d in devices]
    # auto_shard_dataset=False: zoo's pipeline already reads one share per process
    data_parallel = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    keras.distribution.set_distribution(data_parallel)
    if len(devices) == 1:
        log.warning("--distribute data-parallel: JAX sees one device, so nothing is split")
    return Distribution("data-parallel", "jax", names, batch_size, jax.process_count(),
                        jax.process_index(), _keras_distribution=data_parallel)


# ---------------------------------------------------------------------------------------------
# TensorFlow: tf.distribute.MirroredStrategy over one host's GPUs (the data pipeline's
# engine, so tf.* is allowed here)


def _tensorflow(batch_size: int) -> Distribution:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    cpus = _cpu_devices()
    if gpus:
        devices = [f"/gpu:{i}" for i in range(len(gpus))]
    elif cpus:
        physical = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                physical, [tf.config.LogicalDeviceConfiguration() for _ in range(cpus)])
        except RuntimeError:  # already initialised: keep what it has
            pass
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    else:
        devices = ["/cpu:0"]
        log.warning("--distribute data-parallel: TensorFlow sees no GPU, so one CPU device "
                    "trains and nothing is split")
    strategy = tf.distribute.MirroredStrategy(devices=devices)
    names = [_short(d) for d in strategy.extended.worker_devices]
    return Distribution("data-parallel", "tensorflow", names, batch_size, _strategy=strategy)


def _short(device: str) -> str:
    match = re.search(r"device:([A-Z]+):(\d+)", device, re.IGNORECASE)
    return f"{match.group(1).lower()}:{match.group(2)}" if match else device


def broadcast_int(dist: Distribution, value: int) -> int:
    """Process 0's `value`, on every process of `dist` (the run's timestamp, say)."""
    if dist.num_processes == 1:
        return value
    import numpy as np
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int64(value)))


def check_resume(dist: Distribution, saved_processes: int, where: str) -> None:
    if dist.num_processes != saved_processes:
        raise ZooError(f"{where} was trained by {saved_processes} process"
                       f"{'es' if saved_processes > 1 else ''}; resume it with the same "
                       f"number (this one has {dist.num_processes})")
