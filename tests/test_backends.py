"""The same commands on JAX and PyTorch: part of the suite, run again in a subprocess with
`KERAS_BACKEND` set (Keras fixes its backend at import, so this process cannot switch).

A backend that is not installed is skipped with the command that installs it.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBSET = [
    "tests/test_backends.py::test_active_backend_is_the_requested_one",
    "tests/training/test_train.py::test_one_epoch_run_writes_every_file",
    "tests/training/test_train.py::test_interrupted_run_resumes_to_the_same_weights",
    "tests/training/test_train.py::test_nan_loss_stops_cleanly_and_keeps_the_best_model",
    "tests/inference/test_predict.py::test_a_trained_run_predicts_with_its_own_labels",
    "tests/models/test_models.py::test_scratch_model_forward_and_keras_round_trip[minivggnet]",
    "tests/models/test_models.py::test_scratch_model_forward_and_keras_round_trip[resnet20]",
    "tests/models/test_models.py::test_scratch_model_forward_and_keras_round_trip[googlenet]",
]


def test_active_backend_is_the_requested_one():
    from zoo.backend import load_keras

    assert load_keras().backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_training_resume_and_predict_on_another_backend(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install -e '.[{backend}]')")
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         *SUBSET],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540,
    )
    tail = result.stdout[-4000:]
    assert result.returncode == 0, tail
    assert f"{len(SUBSET)} passed" in tail and "skipped" not in tail, tail  # every one ran
