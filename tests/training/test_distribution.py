"""Data-parallel training (`zoo train --distribute data-parallel`), proven on CPU devices.

JAX: two CPU devices in one process (XLA_FLAGS=--xla_force_host_platform_device_count=2) and
two processes on localhost (gloo collectives). TensorFlow: MirroredStrategy over two logical
CPU devices (ZOO_CPU_DEVICES=2). Every process is started and stopped by the test, under a
time bound. How the processes find each other, and what is refused before they start:
tests/training/test_launch.py.

What is compared, and how exactly:

1 device against 2 devices: ONE training step, where the difference is bounded. The
data-parallel step reduces the batch in another order (each device sums its half, then the
halves are all-reduced; BatchNorm's batch statistics likewise), so its gradient g' differs
from one device's g by rounding only. Along a multi-epoch trajectory that rounding is
amplified without bound (on an AMD EPYC the epoch-3 loss moved by 1.2%), so no trajectory
of the two is compared. The bound, per weight tensor, float32 (unit round-off u = 2^-24):
- reordering a sum of n terms moves it by at most (n-1)·u·Σ|terms|, so two orders differ by
  at most 2·n·u·Σ|terms|. The longest reductions of the step run over the batch and the
  image: N·H·W = 32·16·16 = 8192 terms (the first block's kernel gradient and BatchNorm
  statistics). Taking Σ|terms| as the tensor's largest update U / lr: |Δ(lr·g)| <= 2·n·u·U
  = 9.8e-4·U. (Cancellation can make Σ|terms| exceed U / lr; the worst case n·u is itself
  about sqrt(n) = 90 times the typical, random-walk, growth of rounding, which covers it.)
- the update w1 = w0 - lr·g (SGD, zero momentum at step 1) rounds the product and the
  difference: at most u·(U + W) more each way, W the tensor's largest |w1|.
So TOLERANCE(U, W) = 2·n·u·U + 2·u·(U + W). Measured on this plan (2-core x86 CPU): the
largest difference is 1.9e-5·U (kernels: one ulp of w1), 1.2e-6·U where w0 = 0 (biases:
the gradient's rounding alone); the tolerance is 50 to 800 times that, and every update is
more than 380 times the tolerance (the test asks for 100), so the test can fail: a wrong
gradient (a half batch, a missing all-reduce, another batch) moves updates by their size.

2 devices against 2 processes: the same program (each device, or process, reduces the same
half of the batch; the all-reduce adds the same two halves), so over the whole plan the
losses, the weights and the files written are EXACTLY equal. A 2-process run SIGKILLed
after epoch 1 and resumed is the same processes on the same batches with the state
restored: exactly equal to the uninterrupted one.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.training.helpers import (
    JAX_TWO_DEVICES,
    backend_env,
    free_port,
    needs_jax,
    zoo_train,
)
from zoo.data.pipeline import Transform, make_sequence

U = 2.0 ** -24  # float32 unit round-off
REDUCTION = 32 * 16 * 16  # the step's longest reduction: batch x height x width
PLAN = ["--no-report", "--model", "minivggnet", "--dataset", "digits",  # no page: not tested here
        "--image-size", "16,16", "--limit", "96", "--batch-size", "32", "--epochs", "3",
        "--lr", "0.001", "--checkpoint-every", "1"]
ONE_STEP = Path(__file__).with_name("jax_one_step.py")


def tolerance(update: float, weight: float) -> float:
    """The most two orders of one step's float32 reductions can move an update whose
    largest entry is `update`, of a tensor whose largest |w1| is `weight` (module docstring)."""
    return 2 * REDUCTION * U * update + 2 * U * (update + weight)


def _run_all(commands, timeout=300) -> list[subprocess.CompletedProcess]:
    """Start every (argv, env) at once, wait for all within `timeout`; on expiry kill all."""
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for argv, env in commands]
    deadline = time.monotonic() + timeout
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def _processes(tmp_path, name, resume=False):
    port = free_port()
    common = ["--distribute", "data-parallel", "--coordinator", f"127.0.0.1:{port}",
              "--num-processes", "2", "--coordinator-timeout", "60"]
    plan = ["--resume", tmp_path / name] if resume else [*PLAN, "--output", tmp_path,
                                                         "--name", name]
    env = backend_env("jax", tmp_path / "jax-cache")
    return [(zoo_train(*plan, *common, "--process-id", i), env) for i in (0, 1)]


def _final_weights(run: Path) -> list[np.ndarray]:
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    return _weights(run / "checkpoint" / state["model_file"])


def _weights(path: Path) -> list[np.ndarray]:
    """The weights in a .keras archive (an h5 inside a zip), read with h5py."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    arrays = []
    with h5py.File(io.BytesIO(data), "r") as f:
        f["layers"].visititems(lambda name, obj: arrays.append((name, obj[()]))
                               if isinstance(obj, h5py.Dataset) else None)
    return [a for _, a in sorted(arrays, key=lambda item: item[0])]


def _metrics(run: Path) -> np.ndarray:
    """Every number of history.json but the timings."""
    history = json.loads((run / "history.json").read_text())
    return np.array([[v for k, v in sorted(row.items()) if k != "seconds"] for row in history])


def _files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*"))


def _assert_same_run(run: Path, reference: Path) -> None:
    """Bit for bit: every epoch's metrics, every saved model's weights, the same files."""
    np.testing.assert_array_equal(_metrics(run), _metrics(reference))
    assert _files(run) == _files(reference)
    models = [p for p in _files(reference) if p.endswith(".keras")]
    assert "model.keras" in models and len(models) > 2
    for name in models:
        for x, y in zip(_weights(run / name), _weights(reference / name), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)
    evaluated = [json.loads((r / "metrics.json").read_text()) for r in (run, reference)]
    assert [(m["loss"], m["accuracy"]) for m in evaluated] == [
        (evaluated[1]["loss"], evaluated[1]["accuracy"])] * 2


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory):
    """One step on one device and on two (a script, in one process); the plan trained on two
    devices in one process; the plan trained by two processes, SIGKILLed after an epoch, then
    both resumed. The last run must equal the two-device run exactly: that proves both that
    two processes compute what two devices do and that a kill and resume change nothing (a
    difference in either shows; an uninterrupted two-process run would prove no more, for
    a minute of the suite). Launches that compile the same programs follow each other and
    share one JAX compilation cache."""
    tmp_path = tmp_path_factory.mktemp("dist")
    cache = tmp_path / "jax-cache"
    step, devices = _run_all([
        ([sys.executable, ONE_STEP, tmp_path / "step"],
         backend_env("jax", cache, **JAX_TWO_DEVICES)),
        (zoo_train(*PLAN, "--output", tmp_path, "--name", "devices", "--distribute",
                   "data-parallel"), backend_env("jax", cache, **JAX_TWO_DEVICES)),
    ])
    killed = _kill_after_one_epoch(tmp_path, "killed")
    resumed = _run_all(_processes(tmp_path, "killed", resume=True))
    return tmp_path, {"step": step, "devices": devices, "killed": killed, "resumed": resumed}


def _kill_after_one_epoch(tmp_path, name):
    """Start both processes; once process 0 commits epoch 1, SIGKILL process 1, then stop
    process 0 (which would otherwise wait for it until JAX's heartbeat timeout)."""
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
             for argv, env in _processes(tmp_path, name)]
    state = tmp_path / name / "checkpoint" / "state.json"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            if state.is_file() and json.loads(state.read_text())["epoch"] >= 1:
                break
            time.sleep(0.02)
        finished = [p.poll() for p in procs]
        procs[1].send_signal(signal.SIGKILL)
        procs[0].send_signal(signal.SIGKILL)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return finished, json.loads(state.read_text())["epoch"] if state.is_file() else 0


@needs_jax
def test_one_step_on_two_jax_devices_is_the_step_on_one(jax_runs):
    """The trainer's first step (same initial weights, same first batch of make_sequence) on
    one device and split between two agree within the float32 bound of the module
    docstring; and the bound is far below the step itself, so the test can fail."""
    _, results = jax_runs
    assert results["step"].returncode == 0, results["step"].stderr[-2000:]
    step = json.loads(results["step"].stdout.strip().splitlines()[-1])
    single, parallel = step["runs"]
    assert step["steps"] == [1, 1]
    assert (single["devices"], parallel["devices"]) == (["cpu:0"], ["cpu:0", "cpu:1"])
    assert parallel["files"] == single["files"]  # data-parallel writes what one device writes
    assert len(step["weights"]) > 20
    for name, w in step["weights"].items():
        assert w["same_start"], name
        bound = tolerance(w["update"], w["weight"])
        assert w["difference"] <= bound, (name, w, bound)
        assert w["update"] > 100 * bound, (name, w, bound)  # not vacuous


@needs_jax
def test_two_jax_devices_and_two_processes_train_the_same_run(jax_runs):
    root, results = jax_runs
    for result in [results["devices"], *results["resumed"]]:
        assert result.returncode == 0, result.stderr[-2000:]
    devices, processes = root / "devices", root / "killed"
    assert "data-parallel on 2 devices (cpu:0, cpu:1): global batch 32, 16 per device" in (
        results["devices"].stdout)
    first, second = results["resumed"]
    assert "in 2 processes, 16 images read by each" in first.stdout
    assert "process 1 of 2: process 0 writes the run directory" in second.stdout
    assert first.stdout.strip().splitlines()[-1] == second.stdout.strip().splitlines()[-1]
    # the same program on the same batches: equal to the last bit; process 1 wrote nothing
    _assert_same_run(processes, devices)
    metrics = json.loads((devices / "metrics.json").read_text())["distribution"]
    assert metrics == {"mode": "data-parallel", "backend": "jax", "devices": ["cpu:0", "cpu:1"],
                       "processes": 1, "global_batch": 32, "per_device_batch": 16}
    config = (devices / "config.yaml").read_text()
    assert "distribute: data-parallel" in config and "coordinator" not in config
    state = json.loads((processes / "checkpoint" / "state.json").read_text())
    assert state["distribution"]["processes"] == 2


@needs_jax
def test_a_killed_jax_process_resumes_with_the_other(jax_runs):
    root, results = jax_runs
    finished, epoch_at_kill = results["killed"]
    assert finished == [None, None], "the run ended before it could be killed"
    assert 1 <= epoch_at_kill < 3
    for result in results["resumed"]:
        assert result.returncode == 0, result.stderr[-2000:]
    run = root / "killed"
    history = json.loads((run / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    # the same program, the same batches, the same state restored: the two-device run exactly
    _assert_same_run(run, root / "devices")
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 3


def test_tensorflow_mirrored_strategy_trains_and_resumes(tmp_path):
    env = backend_env("tensorflow", ZOO_CPU_DEVICES="2")
    argv = [*PLAN[:-4], "--epochs", "1", "--output", tmp_path, "--name", "tf",
            "--distribute", "data-parallel"]
    (first,) = _run_all([(zoo_train(*argv), env)])
    assert first.returncode == 0, first.stderr[-2000:]
    assert "data-parallel on 2 devices (cpu:0, cpu:1): global batch 32" in first.stdout
    (second,) = _run_all([(zoo_train("--resume", tmp_path / "tf", "--epochs", "2"), env)])
    assert second.returncode == 0, second.stderr[-2000:]
    history = json.loads((tmp_path / "tf" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(np.isfinite(row["loss"]) for row in history)
    metrics = json.loads((tmp_path / "tf" / "metrics.json").read_text())
    assert metrics["distribution"]["devices"] == ["cpu:0", "cpu:1"]
    assert metrics["distribution"]["backend"] == "tensorflow"


# ---------------------------------------------------------------------------------------------
# bad settings: one line, a non-zero exit, never a hang


def test_a_batch_that_does_not_split_between_the_devices_is_one_line(tmp_path):
    result = subprocess.run(zoo_train("--model", "shallownet", "--output", tmp_path,
                                      "--distribute", "data-parallel", "--batch-size", "33"),
                            env=backend_env("jax", **JAX_TWO_DEVICES), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("zoo: error: ") and (
        "--batch-size 33 does not split evenly between 2 devices: use a multiple of 2"
        in result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not any(tmp_path.iterdir())  # no run directory


# ---------------------------------------------------------------------------------------------
# the pieces, in this process


class _Source:
    def __init__(self, images, labels, unreadable=()):
        self.images, self.labels, self.unreadable = images, labels, set(unreadable)

    def load(self, chunk):
        return self.images[chunk], np.array([i not in self.unreadable for i in chunk])


class _Split:
    def __init__(self, n, unreadable=()):
        rng = np.random.default_rng(0)
        self.source = _Source(rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8),
                              rng.integers(0, 3, n), unreadable)
        self.indices = np.arange(n)

    def __len__(self):
        return len(self.indices)


def test_each_process_reads_its_share_of_the_same_augmented_batches():
    split = _Split(75)
    transform = Transform(size=(8, 8), channels=3,
                          augment={"rotation": 10, "shift": 0.1, "zoom": 0.1, "flip": True})
    common = dict(shuffle=True, seed=3, epoch=2, multiple=4)
    whole = make_sequence(split, transform, 3, 16, **common)
    shares = [make_sequence(split, transform, 3, 16, shard=(i, 2), **common) for i in (0, 1)]
    assert len(whole) == len(shares[0]) == 5  # 4 batches of 16, then 11 cut to 8
    for index in range(len(whole)):
        x, y = whole[index]
        parts = [share[index] for share in shares]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), x)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), y)
    assert whole[4][0].shape[0] == 8 and shares[1][4][0].shape[0] == 4
    # one process, no devices to split between: every image, the last batch short
    assert sum(len(make_sequence(split, transform, 3, 16, **{**common, "multiple": 1})[i][0])
               for i in range(5)) == 75


def test_unreadable_images_leave_every_share_its_size():
    """Devices need equal parts: a share that lost unreadable files is filled with its own
    readable images, never sent short (JAX would refuse the uneven global batch)."""
    split = _Split(64, unreadable=range(0, 64, 5))
    transform = Transform(size=(8, 8), channels=3)
    shares = [make_sequence(split, transform, 3, 16, shard=(i, 2), multiple=2) for i in (0, 1)]
    for index in range(4):
        for share in shares:
            x, y = share[index]
            assert x.shape == (8, 8, 8, 3) and y.shape == (8, 3)
    # a single device needs no filling: the unreadable are simply dropped
    x, _ = make_sequence(split, transform, 3, 16)[0]
    assert len(x) == 16 - len([i for i in range(16) if i % 5 == 0])
