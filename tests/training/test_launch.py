"""zoo/training/launch.py: how a process joins the others (flags, Keras' variables, SLURM),
the checks of what no backend can do, and the coordinator's probe; free of Keras."""

import subprocess
import sys
import time

import pytest

from tests.training.helpers import backend_env, free_port, needs_jax, zoo_train


def test_importing_launch_loads_neither_numpy_nor_a_framework():
    script = ("import sys, zoo.training.launch; print(sorted(m for m in ('numpy', 'keras', "
              "'tensorflow', 'jax', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_launch_settings_come_from_flags_then_keras_variables_then_slurm():
    from zoo.errors import ZooError
    from zoo.training.launch import launch_from

    env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:2345",
           "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "1"}
    launch = launch_from(environ=env)
    assert (launch.coordinator, launch.num_processes, launch.process_id) == (
        "10.0.0.1:1234", 2, 1)
    assert launch_from(process_id=0, environ=env).process_id == 0  # a flag wins
    slurm = launch_from(environ={"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"})
    assert slurm.detect and slurm.multi_process
    assert not launch_from(environ={"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}).multi_process
    assert not launch_from(environ={}).multi_process
    for bad, words in [
        (dict(coordinator="nohost", num_processes=2, process_id=0), "must be HOST:PORT"),
        (dict(coordinator="h:99999", num_processes=2, process_id=0), "must be HOST:PORT"),
        (dict(coordinator="h:1", num_processes=2), "needs --process-id"),
        (dict(coordinator="h:1", process_id=0), "need --num-processes"),
        (dict(num_processes=0), "at least 1"),
        (dict(num_processes=2, process_id=-1, coordinator="h:1"), "out of range"),
        (dict(timeout=0), "at least 1 second"),
    ]:
        with pytest.raises(ZooError, match=words):
            launch_from(environ={}, **bad)


@pytest.mark.parametrize("argv, backend, words", [
    (["--distribute", "data-parallel"], "torch", "not available on the torch backend"),
    (["--distribute", "data-parallel", "--num-processes", "2", "--process-id", "2",
      "--coordinator", "127.0.0.1:1234"], "jax",
     "--process-id 2 is out of range for 2 processes (0 to 1)"),
    (["--distribute", "data-parallel", "--num-processes", "2", "--process-id", "1"], "jax",
     "needs --coordinator HOST:PORT"),
    (["--distribute", "data-parallel", "--num-processes", "2", "--process-id", "0",
      "--coordinator", "127.0.0.1:1234"], "tensorflow", "keras-team/keras#20585"),
    (["--num-processes", "2", "--process-id", "1", "--coordinator", "127.0.0.1:1234"], "jax",
     "only with --distribute data-parallel"),
])
def test_bad_launch_settings_are_one_line_before_keras_loads(zoo_cli, monkeypatch, tmp_path,
                                                             argv, backend, words):
    """In this process: the launch is checked against the backend KERAS_BACKEND names
    before any backend is used, so the backend need not even be installed."""
    monkeypatch.setenv("KERAS_BACKEND", backend)
    result = zoo_cli("train", "--model", "shallownet", "--output", tmp_path, *argv)
    assert result.code == 2
    assert result.err.startswith("zoo: error: ") and words in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert not any(tmp_path.iterdir())  # no run directory


@needs_jax
def test_an_unreachable_coordinator_ends_within_the_timeout(tmp_path):
    port = free_port()  # nobody listens there
    started = time.monotonic()
    result = subprocess.run(
        zoo_train("--model", "shallownet", "--output", tmp_path, "--distribute", "data-parallel",
             "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", "1",
             "--coordinator-timeout", "2"),
        env=backend_env("jax"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert time.monotonic() - started < 60
    assert result.stderr.startswith(f"zoo: error: process 1 of 2: the coordinator 127.0.0.1:"
                                    f"{port} did not answer within 2 s")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
