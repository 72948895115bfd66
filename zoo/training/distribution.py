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

from zoo.choices import DISTRIBUTE_MODES as MODES
from zoo.errors import ZooError, ZooRuntimeError, first_line

log = logging.getLogger("zoo")

ENV_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
ENV_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
ENV_PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"
TF_MULTI_WORKER = ("Keras 3 trains on one TensorFlow host only (MirroredStrategy; "
                   "MultiWorkerMirroredStrategy is not supported, keras-team/keras#20585): "
                   "use KERAS_BACKEND=jax for several processes or hosts")


@dataclass(frozen=True)
class Launch:
    """How this process joins a cluster: the flags, else Keras' standard variables, else the
    cluster's own environment (SLURM), which JAX detects."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    timeout: int = 300  # seconds to wait for the other processes to join
    detect: bool = False  # let JAX read the cluster's environment (SLURM)

    @property
    def multi_process(self) -> bool:
        return self.detect or (self.num_processes or 1) > 1


def launch_from(coordinator=None, num_processes=None, process_id=None, timeout=None,
                environ=None) -> Launch:
    """The launch settings from the flags, falling back to `KERAS_DISTRIBUTION_*` and then
    to SLURM, checked before anything starts: one line, exit 2, for what cannot work."""
    env = os.environ if environ is None else environ
    if coordinator is None and env.get(ENV_ADDRESSES):
        coordinator = env[ENV_ADDRESSES].split(",")[0].strip()
    if num_processes is None and env.get(ENV_PROCESSES):
        num_processes = _int(env[ENV_PROCESSES], ENV_PROCESSES)
    if process_id is None and env.get(ENV_PROCESS_ID):
        process_id = _int(env[ENV_PROCESS_ID], ENV_PROCESS_ID)
    timeout = 300 if timeout is None else timeout
    if timeout < 1:
        raise ZooError(f"--coordinator-timeout must be at least 1 second; got {timeout}")
    given = (coordinator, num_processes, process_id)
    if all(v is None for v in given):
        slurm = _int(env.get("SLURM_NTASKS", "1") or "1", "SLURM_NTASKS")
        return Launch(timeout=timeout, detect=bool(env.get("SLURM_JOB_ID")) and slurm > 1)
    if num_processes is None:
        raise ZooError("--coordinator/--process-id need --num-processes N (or "
                       f"{ENV_PROCESSES})")
    if num_processes < 1:
        raise ZooError(f"--num-processes must be at least 1; got {num_processes}")
    if num_processes == 1:
        if process_id not in (None, 0):
            raise ZooError(f"--process-id {process_id} is out of range for 1 process (0)")
        return Launch(timeout=timeout)
    if process_id is None:
        raise ZooError(f"--num-processes {num_processes} needs --process-id I (0 to "
                       f"{num_processes - 1}) on each process, or {ENV_PROCESS_ID}")
    if not 0 <= process_id < num_processes:
        raise ZooError(f"--process-id {process_id} is out of range for {num_processes} "
                       f"processes (0 to {num_processes - 1})")
    if coordinator is None:
        raise ZooError(f"--num-processes {num_processes} needs --coordinator HOST:PORT, the "
                       f"address of process 0 (or {ENV_ADDRESSES})")
    if not re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^\s:/]+):\d{1,5}", coordinator) or not (
            0 < int(coordinator.rsplit(":", 1)[1]) < 65536):
        raise ZooError(f"--coordinator must be HOST:PORT (say 10.0.0.1:1234); got "
                       f"{coordinator!r}")
    return Launch(coordinator, num_processes, process_id, timeout)


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ZooError(f"{name} must be an integer; got {text!r}") from None


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


_ACTIVE: Distribution | None = None


def active() -> Distribution | None:
    return _ACTIVE


def is_writer() -> bool:
    """Whether this process writes the run directory (process 0, or the only one)."""
    return _ACTIVE is None or _ACTIVE.is_writer


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
    global _ACTIVE
    import keras

    launch = launch or Launch()
    backend = keras.backend.backend()
    check(mode, launch, backend)
    if mode == "none":
        _ACTIVE = Distribution(mode, backend, [_default_device(backend)], batch_size)
        return _ACTIVE
    dist = _tensorflow(batch_size) if backend == "tensorflow" else _jax(batch_size, launch)
    _check_batch(dist)
    _ACTIVE = dist
    return dist


def check(mode: str, launch: Launch, backend: str) -> None:
    """What no backend can do, in one line: called by the CLI before Keras loads (with the
    backend named by KERAS_BACKEND or keras.json) and again by `setup`."""
    if mode not in MODES:
        raise ZooError(f"--distribute must be one of {', '.join(MODES)}; got {mode!r}")
    if launch.multi_process and mode != "data-parallel":
        raise ZooError("several processes train together only with --distribute "
                       "data-parallel")
    if mode == "none":
        return
    if backend == "torch":
        raise ZooError("--distribute data-parallel is not available on the torch backend "
                       "(Keras' torch distribution is not released): use KERAS_BACKEND=jax "
                       "or tensorflow")
    if backend == "tensorflow" and launch.multi_process:
        raise ZooError(TF_MULTI_WORKER)
    if backend not in ("tensorflow", "jax"):
        raise ZooError(f"--distribute data-parallel is not available on the {backend} backend")


def reset() -> None:
    """Forget the distribution (a test or a notebook training again in one process)."""
    global _ACTIVE
    import keras

    if keras.backend.backend() == "jax":
        keras.distribution.set_distribution(None)
    _ACTIVE = None


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
    count = _int(text, "ZOO_CPU_DEVICES")
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
        _join(launch)
    devices = jax.devices()
    names = [f"{d.platform}:{d.id}" for d in devices]
    # auto_shard_dataset=False: zoo's pipeline already reads one share per process
    data_parallel = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    keras.distribution.set_distribution(data_parallel)
    if len(devices) == 1:
        log.warning("--distribute data-parallel: JAX sees one device, so nothing is split")
    return Distribution("data-parallel", "jax", names, batch_size, jax.process_count(),
                        jax.process_index(), _keras_distribution=data_parallel)


def _join(launch: Launch) -> None:
    """jax.distributed.initialize, which `keras.distribution.initialize` wraps, called
    directly for its timeouts: Keras' wrapper passes none, and JAX's default waits five
    minutes for a coordinator that may never answer."""
    import jax

    if launch.coordinator and launch.process_id:
        _reach(launch)
    try:
        jax.distributed.initialize(
            coordinator_address=launch.coordinator,
            num_processes=launch.num_processes,
            process_id=launch.process_id,
            initialization_timeout=launch.timeout,
            # process 0 evaluates the best model after the fit, while the others wait at
            # the shutdown barrier: give it time
            shutdown_timeout_seconds=max(launch.timeout, 3600),
        )
    except Exception as exc:  # noqa: BLE001 - JAX raises XlaRuntimeError, ValueError, ...
        who = (f"process {launch.process_id} of {launch.num_processes}"
               if launch.num_processes else "this process (SLURM)")
        where = launch.coordinator or "the coordinator SLURM names"
        raise ZooRuntimeError(
            f"{who} could not join the others through {where} within {launch.timeout} s "
            f"({first_line(exc)}); start every process with the same --coordinator and "
            "--num-processes, process 0 on the coordinator's host") from None


def _reach(launch: Launch) -> None:
    """Wait until the coordinator accepts connections, or say in one line that it did not.
    JAX's own client ends the process with a native abort and a stack dump when its
    connection times out; this finds the same fault first, in zoo's words."""
    import socket
    import time

    host, port = launch.coordinator.rsplit(":", 1)
    host = host.strip("[]")
    deadline = time.monotonic() + launch.timeout
    error = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return
        except OSError as exc:
            error = exc.strerror or str(exc)
            time.sleep(0.5)
    raise ZooRuntimeError(
        f"process {launch.process_id} of {launch.num_processes}: the coordinator "
        f"{launch.coordinator} did not answer within {launch.timeout} s ({error}); start "
        "process 0 there with the same --coordinator, or fix the address")


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


def broadcast_int(value: int) -> int:
    """Process 0's `value`, on every process (the run's timestamp, say)."""
    if _ACTIVE is None or _ACTIVE.num_processes == 1:
        return value
    import numpy as np
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int64(value)))


def check_resume(dist: Distribution, saved_processes: int, where: str) -> None:
    if dist.num_processes != saved_processes:
        raise ZooError(f"{where} was trained by {saved_processes} process"
                       f"{'es' if saved_processes > 1 else ''}; resume it with the same "
                       f"number (this one has {dist.num_processes})")
