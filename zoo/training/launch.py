"""How this process joins the others of a data-parallel run: the coordinator, the number of
processes and this one's id, from the flags, else Keras' standard variables, else SLURM; the
checks of what no backend can do; the TCP probe of the coordinator, then JAX's join.

Free of Keras, TensorFlow and JAX at import (the CLI checks the launch before Keras loads);
JAX is imported only by `join`, when a process actually joins a cluster.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass

from zoo.choices import DISTRIBUTE_MODES
from zoo.errors import ZooError, ZooRuntimeError, first_line

ENV_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
ENV_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
ENV_PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"
DEFAULT_TIMEOUT = 300  # seconds to wait for the other processes to join
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
    timeout: int = DEFAULT_TIMEOUT
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
        num_processes = parse_int(env[ENV_PROCESSES], ENV_PROCESSES)
    if process_id is None and env.get(ENV_PROCESS_ID):
        process_id = parse_int(env[ENV_PROCESS_ID], ENV_PROCESS_ID)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    if timeout < 1:
        raise ZooError(f"--coordinator-timeout must be at least 1 second; got {timeout}")
    given = (coordinator, num_processes, process_id)
    if all(v is None for v in given):
        slurm = parse_int(env.get("SLURM_NTASKS", "1") or "1", "SLURM_NTASKS")
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


def parse_int(text: str, name: str) -> int:
    """`text`, an environment variable's value, as an int; else one line naming `name`."""
    try:
        return int(text)
    except ValueError:
        raise ZooError(f"{name} must be an integer; got {text!r}") from None


def check(mode: str, launch: Launch, backend: str) -> None:
    """What no backend can do, in one line: called by the CLI before Keras loads (with the
    backend named by KERAS_BACKEND or keras.json) and again by `distribution.setup`."""
    if mode not in DISTRIBUTE_MODES:
        raise ZooError(f"--distribute must be one of {', '.join(DISTRIBUTE_MODES)}; "
                       f"got {mode!r}")
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


def join(launch: Launch) -> None:
    """jax.distributed.initialize, which `keras.distribution.initialize` wraps, called
    directly for its timeouts: Keras' wrapper passes none, and JAX's default waits five
    minutes for a coordinator that may never answer."""
    import jax

    if launch.coordinator and launch.process_id:
        reach(launch)
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


def reach(launch: Launch) -> None:
    """Wait until the coordinator accepts connections, or say in one line that it did not.
    JAX's own client ends the process with a native abort and a stack dump when its
    connection times out; this finds the same fault first, in zoo's words."""
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
