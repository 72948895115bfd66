"""The same commands on JAX and PyTorch: Keras fixes its backend at import, so this process
(TensorFlow) cannot switch; one subprocess per backend (`KERAS_BACKEND` set) runs
`check_backend` once: it trains a run through the CLI and predicts with it, trains the same
plan crashed after epoch 1 and resumes it, stops a run on a NaN loss, and builds, runs and
round-trips three models. It writes
what it saw to `facts.json`; the tests below read that and the run directories it left.

Every float compared here was computed twice in the same order, by the same backend in the
same process (a straight run against a crashed-and-resumed one; a model against its reloaded
copy), so the comparisons are exact; no number of one backend is compared with another's.

A backend that is not installed is skipped with the command that installs it.
"""

import atexit
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["jax", "torch"]
RUN_FILES = ["config.yaml", "labels.json", "model.keras", "checkpoint/state.json",
             "history.json", "history.csv", "monitor.png", "metrics.json",
             "classification_report.txt", "confusion_matrix.png",
             "checkpoint/periodic-0001.keras"]
# The smallest plan that still exercises what resume must restore: BN and dropout
# (minivggnet), augmentation's random state, a schedule that moves every step; 64 images of
# 8x8 in batches of 32 are two steps an epoch.
RESUME = {"model": "minivggnet", "dataset": "digits", "epochs": 2, "batch_size": 32,
          "lr": 0.02, "lr_schedule": "time", "lr_decay": 0.01, "augment": True,
          "limit": 64, "seed": 5, "checkpoint_every": 1}
MODELS = ["minivggnet", "resnet20", "googlenet"]  # plain, residual and inception graphs
IMAGES = ["a.png", "b.png", "c.png"]


def test_active_backend_is_the_requested_one():
    from zoo.backend import load_keras

    assert load_keras().backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


def _python(code: str, **env) -> str:
    """`code` run by this Python in a fresh process with `env` over an environment that lacks
    TF_ENABLE_ONEDNN_OPTS; its stdout."""
    base = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    done = subprocess.run([sys.executable, "-c", code], env={**base, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_importing_zoo_asks_for_onednn_and_keeps_a_users_choice():
    code = "import os, zoo; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"
    assert _python(code) == "1"
    assert _python(code, TF_ENABLE_ONEDNN_OPTS="0") == "0"


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                    reason="TensorFlow's oneDNN kernels are built for x86 CPUs only")
def test_tensorflow_loaded_by_zoo_runs_onednn_on_any_x86_cpu():
    """TensorFlow 2.21 enables oneDNN by itself only on CPUs with AVX-512 VNNI/BF16 (or
    AVX-VNNI, AMX); zoo asks for it before TensorFlow loads, so an AVX2 CPU gets it too."""
    code = ("from zoo.backend import load_keras; load_keras(); "
            "from tensorflow.python.util import _pywrap_util_port as p; print(p.IsMklEnabled())")
    assert _python(code, KERAS_BACKEND="tensorflow") == "True"


# -- what the subprocess runs -----------------------------------------------------------------

def check_backend(root: Path) -> dict:
    """Run the plan in this interpreter, on its backend, under `root`; return the facts that
    need the backend to compute (the rest the tests read from the files)."""
    import keras

    from tests.conftest import train_in_process
    from tests.fixtures import write_images
    from zoo.cli import main
    from zoo.config import resolve
    from zoo.models import build_model
    from zoo.training.trainer import train

    facts = {"backend": keras.backend.backend()}

    # a run through the CLI, predictions with it and with its periodic checkpoint, and the
    # same plan crashed after epoch 1, resumed through the CLI
    train_in_process(root, "straight", *_flags(RESUME))
    images = write_images(root / "images", IMAGES, size=(8, 8))
    for key, model in (("predict", root / "straight"),
                       ("predict_periodic", root / "straight/checkpoint/periodic-0001.keras")):
        out = root / f"{key}.jsonl"
        with out.open("w") as fh, _stdout_to(fh):
            code = main(["predict", "--image", *map(str, images), "--model", str(model),
                         "--json", "--top", "2"])
        facts[key] = {"code": code, "lines": out.read_text().splitlines()}

    class Crash(Exception):
        pass

    class CrashAfterOne(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise Crash

    try:
        train(resolve(None, {**RESUME, "output": str(root), "name": "crashed"}),
              callbacks=[CrashAfterOne()])
    except Crash:
        pass
    facts["crashed_epoch"] = json.loads((root / "crashed/checkpoint/state.json").read_text())[
        "epoch"]
    with open(os.devnull, "w") as null, _stdout_to(null):
        facts["resume_code"] = main(["train", "--resume", str(root / "crashed"), "--epochs", "2"])
    weights = [keras.saving.load_model(root / run / "checkpoint/epoch-0002.keras").get_weights()
               for run in ("straight", "crashed")]
    facts["resumed_weights_equal"] = [bool(np.array_equal(a, b))
                                      for a, b in zip(*weights, strict=True)]

    # a NaN loss stops the run and keeps the best model
    class Explode(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:  # after the checkpoint of epoch 1: poison the weights
                kernel = self.model.get_layer("predictions").kernel
                kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))

    nan = train(resolve(None, {"model": "shallownet", "dataset": "digits", "epochs": 3,
                               "limit": 64, "output": str(root), "name": "nan"}),
                callbacks=[Explode()])
    best = keras.saving.load_model(nan / "model.keras")
    facts["nan_best_finite"] = all(bool(np.isfinite(w).all()) for w in best.get_weights())

    # models: forward, and a .keras round trip that gives the same outputs
    facts["models"] = {}
    x = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    for name in MODELS:
        model = build_model(name, input_shape=(8, 8, 3), num_classes=7)
        y = keras.ops.convert_to_numpy(model(x, training=False))
        model.save(root / f"{name}.keras")
        loaded = keras.saving.load_model(root / f"{name}.keras")
        again = keras.ops.convert_to_numpy(loaded(x, training=False))
        facts["models"][name] = {
            "shape": list(y.shape), "finite": bool(np.isfinite(y).all()),
            "sums": y.sum(axis=1).tolist(), "reloaded_equal": bool(np.array_equal(again, y)),
            "same_layers": [la.name for la in loaded.layers] == [la.name for la in model.layers],
        }
    return facts


def _flags(plan: dict) -> list[str]:
    """`plan` as `zoo train` flags."""
    flags = []
    for key, value in plan.items():
        flag = "--" + key.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    return flags


def _stdout_to(stream):
    import contextlib

    return contextlib.redirect_stdout(stream)


if __name__ == "__main__":  # python -m tests.test_backends ROOT
    root = Path(sys.argv[1])
    (root / "facts.json").write_text(json.dumps(check_backend(root)))


# -- the tests --------------------------------------------------------------------------------

INSTALLED = [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


@pytest.mark.parametrize("name", [name for name in BACKENDS if name not in INSTALLED])
def test_a_backend_that_is_not_installed_is_skipped(name):
    pytest.skip(f"{name} is not installed (pip install -e '.[{name}]')")


LAUNCHED: dict[str, tuple[subprocess.Popen, Path]] = {}
TIMEOUT = 540


def launch(name: str) -> None:
    """Start `check_backend` on backend `name` in a subprocess, into a new temporary folder.
    tests/conftest.py calls this as soon as the session knows its tests, so that the
    subprocess (the longest setup of the suite) runs beside the tests that come before."""
    if name in LAUNCHED:
        return
    if not LAUNCHED:
        atexit.register(_stop_all)
    root = Path(tempfile.mkdtemp(prefix=f"zoo-{name}-"))
    # XLA at optimisation level 0: most of a JAX session here is compiling one-off programs
    # (each weight initializer's is one), which optimising does not repay on two-step runs
    xla = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()
    env = {**os.environ, "KERAS_BACKEND": name, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": xla}
    with open(root / "output.txt", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tests.test_backends", str(root)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    LAUNCHED[name] = proc, root


def _stop_all() -> None:
    """At exit: stop a subprocess whose tests did not run (`-x`, an interrupt), and remove its
    folder."""
    for proc, root in LAUNCHED.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module", params=INSTALLED)
def backend(request):
    """`(facts, root)` of `check_backend` run once in a subprocess on the backend."""
    launch(request.param)
    proc, root = LAUNCHED[request.param]
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    try:
        code = proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    assert code == 0, (root / "output.txt").read_text()[-4000:]
    return json.loads((root / "facts.json").read_text()), root


def test_the_subprocess_ran_on_its_backend(backend, request):
    facts, _ = backend
    assert facts["backend"] == request.node.callspec.params["backend"]


def test_a_run_writes_every_file(backend):
    _, root = backend
    run = root / "straight"
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 2 and {"loss", "val_loss", "accuracy", "lr"} <= set(history[0])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["epochs"] == 2
    assert 0 <= metrics["accuracy"] <= metrics["top5_accuracy"] <= 1
    assert set(metrics["per_class"]) == {str(i) for i in range(10)}
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["iterations"] == 4  # 64 images in batches of 32, twice


def test_the_report_page_has_grad_cam_through_the_backends_autodiff(backend):
    """report.html's top losses carry Grad-CAM overlays computed on this backend (a failed
    Grad-CAM would leave the page's note instead, or no page)."""
    _, root = backend
    page = (root / "straight" / "report.html").read_text()
    assert "Grad-CAM (Selvaraju et al. 2017) at layer" in page
    assert 'id="cam-note"' not in page
    assert page.count('alt="Grad-CAM of ') >= 1


def test_a_trained_run_predicts_with_its_own_labels(backend):
    facts, _ = backend
    classes = {str(i) for i in range(10)}
    for key, model, top in (("predict", "straight", 2),
                            ("predict_periodic", "straight/checkpoint/periodic-0001.keras", 2)):
        assert facts[key]["code"] == 0, key
        lines = [json.loads(line) for line in facts[key]["lines"]]
        assert len(lines) == len(IMAGES) and lines[0]["model"] == model
        assert all(len(line["predictions"]) == top for line in lines)
        assert {p["label"] for line in lines for p in line["predictions"]} <= classes
        assert "wnid" not in lines[0]["predictions"][0]


def test_interrupted_run_resumes_to_the_same_weights(backend):
    facts, root = backend
    assert facts["crashed_epoch"] == 1 and facts["resume_code"] == 0
    crashed = json.loads((root / "crashed" / "history.json").read_text())
    straight = json.loads((root / "straight" / "history.json").read_text())
    assert [row["epoch"] for row in crashed] == [1, 2]
    steps = 2  # 64 images / 32
    assert [row["lr"] for row in crashed] == pytest.approx(
        [0.02 / (1 + 0.01 * e * steps) for e in range(2)], rel=1e-5)  # float32 lr: 1e-7
    # the same computations in the same order: equal to the last bit
    assert [r["loss"] for r in crashed] == [r["loss"] for r in straight]
    assert facts["resumed_weights_equal"] and all(facts["resumed_weights_equal"])
    assert json.loads((root / "crashed" / "metrics.json").read_text())["epochs"] == 2


def test_nan_loss_stops_cleanly_and_keeps_the_best_model(backend):
    facts, root = backend
    history = json.loads((root / "nan" / "history.json").read_text())
    metrics = json.loads((root / "nan" / "metrics.json").read_text())
    assert len(history) == 1 and metrics["stopped"] == "nan_loss"
    assert np.isfinite(metrics["loss"]) and facts["nan_best_finite"]
    assert json.loads((root / "nan" / "checkpoint" / "state.json").read_text())["epoch"] == 1


@pytest.mark.parametrize("name", MODELS)
def test_scratch_model_forward_and_keras_round_trip(backend, name):
    facts, _ = backend
    model = facts["models"][name]
    assert model["shape"] == [2, 7] and model["finite"]
    # a float32 softmax of 7 values sums to 1 within 7 roundings (7 * 6e-8 < 1e-6)
    np.testing.assert_allclose(model["sums"], 1.0, rtol=1e-5)
    assert model["reloaded_equal"] and model["same_layers"]
