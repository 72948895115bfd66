import csv
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import needs_graphviz
from tests.fixtures import write_cifar10, write_folder
from zoo.config import resolve
from zoo.data.builtin import DEBIAN_FASHION_MNIST

RUN_FILES = ["config.yaml", "labels.json", "model.keras", "checkpoint/state.json",
             "history.json", "history.csv", "monitor.png", "metrics.json",
             "classification_report.txt", "confusion_matrix.png"]


def _png_ok(path: Path):
    import cv2

    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 200 and image.std() > 5


def test_one_epoch_run_writes_every_file(zoo_cli, tmp_path):
    result = zoo_cli("train", "--model", "lenet", "--dataset", "digits", "--epochs", "1",
                     "--output", tmp_path, "--name", "run1", "--limit", "300",
                     "--batch-size", "32")
    assert result.code == 0, result.err
    run = tmp_path / "run1"
    assert result.out.strip().splitlines()[-1] == str(run)
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"] == "lenet" and config["epochs"] == 1 and config["name"] is None
    assert json.loads((run / "labels.json").read_text())["labels"] == [str(i) for i in range(10)]
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 1 and {"loss", "val_loss", "accuracy", "lr"} <= set(history[0])
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert float(rows[0]["loss"]) == pytest.approx(history[0]["loss"])
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("accuracy", "top5_accuracy", "loss", "split", "epochs", "per_class",
                "train_seconds", "images_per_second"):
        assert key in metrics, key
    assert metrics["split"] == "test" and metrics["epochs"] == 1
    assert 0 <= metrics["accuracy"] <= metrics["top5_accuracy"] <= 1
    assert set(metrics["per_class"]) == {str(i) for i in range(10)}
    assert metrics["images_per_second"] > 0
    # 8 steps per call then a call of 2: the remainder runs, no batch is lost or repeated
    train_images = int(re.search(r"(\d+) train", result.out).group(1))
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["iterations"] == math.ceil(train_images / 32) == 10
    assert "precision" in (run / "classification_report.txt").read_text()
    _png_ok(run / "monitor.png")
    _png_ok(run / "confusion_matrix.png")
    assert "accuracy" in result.out  # the terminal table


@needs_graphviz
def test_run_has_model_graph(zoo_cli, tmp_path):
    zoo_cli("train", "--model", "shallownet", "--dataset", "digits", "--epochs", "1",
            "--output", tmp_path, "--name", "g", "--limit", "100")
    _png_ok(tmp_path / "g" / "model.png")


class Crash(Exception):
    pass


def _crash_after(epochs):
    import keras

    class CrashAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == epochs:
                raise Crash

    return CrashAfter()


def _weights(run, epoch, kind="epoch"):
    """Weights of the checkpoint `checkpoint/{kind}-{epoch:04d}.keras` (epoch or periodic)."""
    import keras

    model = keras.saving.load_model(run / "checkpoint" / f"{kind}-{epoch:04d}.keras")
    return model.get_weights()


def test_interrupted_run_resumes_to_the_same_weights(zoo_cli, tmp_path):
    from zoo.training.trainer import train

    flags = {"model": "minivggnet", "dataset": "digits", "epochs": 3, "batch_size": 64,
             "lr": 0.02, "lr_schedule": "time", "lr_decay": 0.01, "augment": True,
             "limit": 256, "seed": 5, "output": str(tmp_path)}
    train(resolve(None, {**flags, "name": "straight"}))
    with pytest.raises(Crash):
        train(resolve(None, {**flags, "name": "crashed"}), callbacks=[_crash_after(1)])
    crashed = tmp_path / "crashed"
    assert json.loads((crashed / "checkpoint" / "state.json").read_text())["epoch"] == 1

    result = zoo_cli("train", "--resume", crashed, "--epochs", "3")
    assert result.code == 0, result.err
    history = json.loads((crashed / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    steps = 4  # 256 images / 64
    assert [row["lr"] for row in history] == pytest.approx(
        [0.02 / (1 + 0.01 * e * steps) for e in range(3)], rel=1e-5)
    straight = json.loads((tmp_path / "straight" / "history.json").read_text())
    assert [r["loss"] for r in history] == [r["loss"] for r in straight]
    for a, b in zip(_weights(crashed, 3), _weights(tmp_path / "straight", 3), strict=True):
        np.testing.assert_array_equal(a, b)
    assert json.loads((crashed / "metrics.json").read_text())["epochs"] == 3


@pytest.mark.parametrize("schedule, early_stop, crash_at, expected", [
    # lr 1e-30 freezes the weights, so val_loss is the same every epoch: it "improves" once,
    # then never. Patience counters lost at the crash would count again from the resumed epoch.
    ("none", 2, 2, 3),      # stops at epoch 3; a reset counter would stop at 5
    ("plateau", 0, 2, 6),   # drops after epochs 4 (and 7); a reset one after epoch 6
])
def test_resume_keeps_early_stopping_and_plateau_counters(tmp_path, schedule, early_stop,
                                                          crash_at, expected):
    from zoo.training.trainer import train

    flags = {"model": "lenet", "dataset": "digits", "epochs": 6, "lr": 1e-30,
             "optimizer": "sgd", "momentum": 0.0, "lr_schedule": schedule, "lr_drop_factor": 0.5,
             "early_stop": early_stop, "monitor": "val_loss", "limit": 200,
             "output": str(tmp_path)}
    straight = train(resolve(None, {**flags, "name": "straight"}))
    with pytest.raises(Crash):
        train(resolve(None, {**flags, "name": "crashed"}), callbacks=[_crash_after(crash_at)])
    crashed = tmp_path / "crashed"
    state = json.loads((crashed / "checkpoint" / "state.json").read_text())
    key = "early_stop" if early_stop else "plateau"
    assert state[key]["wait"] == crash_at - 1 and state[key]["best"] is not None
    train(resolve(None, {**flags, "name": "crashed"}), resume=crashed)

    runs = [json.loads((run / "history.json").read_text()) for run in (straight, crashed)]
    assert [len(h) for h in runs] == [expected, expected]
    assert [r["lr"] for r in runs[0]] == [r["lr"] for r in runs[1]]
    if early_stop:
        metrics = json.loads((crashed / "metrics.json").read_text())
        assert metrics["stopped"] == "early_stop" and metrics["epochs"] == expected
    else:  # halved after epoch 4, so epochs 5 and 6 start at half the rate
        assert [r["lr"] / 1e-30 for r in runs[1]] == pytest.approx([1, 1, 1, 1, 0.5, 0.5])


@pytest.mark.parametrize("precision, compute", [("mixed_float16", "float16"),
                                                ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_run_resumes_exactly(zoo_cli, tmp_path, precision, compute):
    import keras

    from zoo.training.trainer import train

    flags = {"model": "minivggnet", "dataset": "digits", "epochs": 2, "batch_size": 32,
             "lr": 0.05, "lr_schedule": "time", "lr_decay": 0.01, "precision": precision,
             "limit": 128, "seed": 2, "output": str(tmp_path)}
    try:
        straight = train(resolve(None, {**flags, "name": "straight"}))
        with pytest.raises(Crash):
            train(resolve(None, {**flags, "name": "crashed"}), callbacks=[_crash_after(1)])
        # a plain float32 run in between must not inherit the mixed policy
        train(resolve(None, {**flags, "precision": "float32", "epochs": 1, "name": "fp32"}))
        assert keras.config.dtype_policy().name == "float32"
        result = zoo_cli("train", "--resume", tmp_path / "crashed", "--epochs", "2")
        assert result.code == 0, result.err
    finally:
        keras.config.set_dtype_policy("float32")
    crashed = tmp_path / "crashed"
    runs = [json.loads((run / "history.json").read_text()) for run in (straight, crashed)]
    assert [r["loss"] for r in runs[0]] == [r["loss"] for r in runs[1]]
    assert all(np.isfinite(r["loss"]) for r in runs[1])
    model = keras.saving.load_model(crashed / "model.keras", compile=False)
    assert model.get_layer("block1_conv1").compute_dtype == compute
    assert model.get_layer("predictions").compute_dtype == "float32"
    fp32 = keras.saving.load_model(tmp_path / "fp32" / "model.keras")
    assert fp32.get_layer("block1_conv1").compute_dtype == "float32"
    metrics = json.loads((crashed / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and np.isfinite(metrics["loss"])
    assert json.loads((crashed / "checkpoint" / "state.json").read_text())["iterations"] > 0
    with warnings.catch_warnings(record=True) as caught:  # evaluation needs no optimizer
        warnings.simplefilter("always")
        result = zoo_cli("evaluate", crashed)
    assert result.code == 0, result.err
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    again = json.loads((crashed / "metrics.json").read_text())
    assert again["accuracy"] == metrics["accuracy"] and again["epochs"] == 2


def test_periodic_checkpoints_tensorboard_and_loss_settings(zoo_cli, tmp_path):
    import keras

    result = zoo_cli("train", "--model", "lenet", "--dataset", "digits", "--epochs", "2",
                     "--limit", "200", "--checkpoint-every", "1", "--tensorboard",
                     "--label-smoothing", "0.1", "--optimizer", "adamw", "--weight-decay",
                     "0.01", "--lr", "0.001", "--output", tmp_path, "--name", "extras")
    assert result.code == 0, result.err
    run = tmp_path / "extras"
    first, second = (_weights(run, epoch, "periodic") for epoch in (1, 2))
    for a, b in zip(second, _weights(run, 2), strict=True):  # the epoch-2 snapshot
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    events = {p.parent.name for p in (run / "tensorboard").rglob("events.out.tfevents.*")}
    assert events == {"train", "validation"}
    model = keras.saving.load_model(run / "checkpoint" / "epoch-0002.keras")
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(0.01)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)


@pytest.mark.parametrize("name, cls, extra", [
    ("sgd", "SGD", {"momentum": 0.9, "nesterov": True}),
    ("adam", "Adam", {}),
    ("adamw", "AdamW", {}),
    ("rmsprop", "RMSprop", {"momentum": 0.9}),
    ("nadam", "Nadam", {}),
])
def test_optimizers_take_their_settings(name, cls, extra):
    import keras

    from zoo.training.compile import create_optimizer

    config = resolve(None, {"model": "lenet", "optimizer": name, "momentum": 0.9,
                            "nesterov": True, "weight_decay": 5e-4})
    optimizer = create_optimizer(config, 0.02)
    assert type(optimizer) is getattr(keras.optimizers, cls)
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.02)
    assert optimizer.weight_decay == pytest.approx(5e-4)
    for key, value in extra.items():
        assert getattr(optimizer, key) == value


def test_resume_refuses_other_settings_and_finished_runs(zoo_cli, tmp_path):
    zoo_cli("train", "--model", "lenet", "--epochs", "1", "--output", tmp_path, "--name", "r",
            "--limit", "100")
    result = zoo_cli("train", "--resume", tmp_path / "r", "--lr", "0.5")
    assert result.code == 2 and "--lr" in result.err
    result = zoo_cli("train", "--resume", tmp_path / "r", "--epochs", "1")
    assert result.code == 2 and "already trained 1" in result.err


def test_nan_loss_stops_cleanly_and_keeps_the_best_model(tmp_path):
    import keras

    from zoo.training.trainer import train

    class Explode(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:  # after the checkpoint of epoch 1: poison the weights
                kernel = self.model.get_layer("predictions").kernel
                kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))

    config = resolve(None, {"model": "lenet", "dataset": "digits", "epochs": 4,
                            "output": str(tmp_path), "name": "nan", "limit": 300})
    run = train(config, callbacks=[Explode()])
    history = json.loads((run / "history.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(history) == 1 and metrics["stopped"] == "nan_loss"
    assert np.isfinite(metrics["loss"])
    best = keras.saving.load_model(run / "model.keras")
    assert all(np.isfinite(w).all() for w in best.get_weights())
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 1


def test_existing_run_directory_is_never_overwritten(zoo_cli, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = zoo_cli("train", "--model", "lenet", "--output", tmp_path, "--name", "mine")
    assert result.code == 2 and "--resume" in result.err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_config_file_reproduces_and_flags_override(zoo_cli, tmp_path):
    zoo_cli("train", "--model", "shallownet", "--epochs", "1", "--output", tmp_path,
            "--name", "a", "--limit", "100", "--lr", "0.03")
    result = zoo_cli("train", "--config", tmp_path / "a" / "config.yaml", "--name", "b")
    assert result.code == 0, result.err
    b = yaml.safe_load((tmp_path / "b" / "config.yaml").read_text())
    assert b["model"] == "shallownet" and b["lr"] == 0.03 and b["limit"] == 100


def test_folder_and_cifar_runs_and_evaluate(zoo_cli, tmp_path):
    root, _ = write_folder(tmp_path / "animals")
    result = zoo_cli("train", "--model", "shallownet", "--dataset", f"folder:{root}",
                     "--image-size", "24,24", "--epochs", "1", "--augment", "--output",
                     tmp_path, "--name", "f")
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "f" / "metrics.json").read_text())
    assert metrics["split"] == "val"  # no test/ folder: validation is evaluated
    assert set(metrics["per_class"]) == {"cats", "dogs", "pandas"}

    write_cifar10(tmp_path / "c", per_batch=20)
    result = zoo_cli("train", "--model", "resnet20", "--dataset", "cifar10", "--data-dir",
                     tmp_path / "c", "--epochs", "1", "--output", tmp_path, "--name", "cifar",
                     "--lr-schedule", "step", "--lr-drop-every", "50%,75%", "--mean-subtract")
    assert result.code == 0, result.err
    labels = json.loads((tmp_path / "cifar" / "labels.json").read_text())
    assert labels["labels"][0] == "airplane" and len(labels["mean"]) == 3
    (tmp_path / "cifar" / "metrics.json").unlink()
    result = zoo_cli("evaluate", tmp_path / "cifar", "--split", "val")
    assert result.code == 0, result.err
    assert json.loads((tmp_path / "cifar" / "metrics.json").read_text())["split"] == "val"


def test_datasets_command(zoo_cli, tmp_path):
    write_cifar10(tmp_path, tarball=True)
    rows = zoo_cli("datasets", "--json", "--data-dir", tmp_path).json()
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100"}
    assert by_name["digits"]["present"] and by_name["cifar10"]["present"]
    assert by_name["cifar10"]["location"] == str(tmp_path)


@pytest.mark.skipif(not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_lenet_learns_real_fashion_mnist(zoo_cli, tmp_path):
    result = zoo_cli("train", "--model", "lenet", "--dataset", "fashion_mnist", "--epochs", "3",
                     "--limit", "10000", "--optimizer", "adam", "--lr", "0.001",
                     "--batch-size", "64", "--output", tmp_path, "--name", "fm")
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "fm" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["images"] == 10000
    assert metrics["accuracy"] > 0.80, metrics["accuracy"]


def test_sigkill_at_any_moment_leaves_a_resumable_run(zoo_subprocess, tmp_path):
    """Kill a real `zoo train` process three times at staggered moments of later epochs
    (training, validation or the checkpoint writes), resuming after each kill."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "killed"
    state_file = run / "checkpoint" / "state.json"
    argv = [sys.executable, "-m", "zoo", "train", "--model", "lenet", "--dataset", "digits",
            "--limit", "400", "--batch-size", "16", "--epochs", "12", "--output",
            str(tmp_path), "--name", "killed"]
    for attempt, delay in enumerate((0.13, 0.41, 0.77)):
        if attempt:
            argv = [sys.executable, "-m", "zoo", "train", "--resume", str(run), "--epochs", "12"]
        before = json.loads(state_file.read_text())["epoch"] if state_file.is_file() else 0
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if state_file.is_file() and json.loads(state_file.read_text())["epoch"] > before:
                break
            time.sleep(0.02)
        time.sleep(delay)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        state = json.loads(state_file.read_text())  # readable after the kill
        assert state["epoch"] > before
        assert (run / "checkpoint" / state["model_file"]).is_file()
        assert (run / "model.keras").is_file()
        json.loads((run / "history.json").read_text())

    result = zoo_subprocess("train", "--resume", run, "--epochs", "12", timeout=300)
    assert result.code == 0, result.err
    history = json.loads((run / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(1, 13))
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 12
    assert not list(run.rglob(".*"))  # the resumes removed any half-written temporary file


def test_resume_removes_only_temporary_files(tmp_path):
    from zoo.io import atomic_path, remove_stale_temps

    with atomic_path(tmp_path / "monitor.png") as tmp:
        stale = tmp.with_name(tmp.name.replace(".monitor.", ".history.")).with_suffix(".json")
        stale.write_text("half")  # the shape of a file a killed atomic write leaves
    (tmp_path / ".notes").write_text("mine")
    (tmp_path / "model.keras").write_text("kept")
    assert remove_stale_temps(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes", "model.keras", "monitor.png"]


def test_deterministic_runs_repeat_exactly(zoo_subprocess, tmp_path):
    # In subprocesses: TensorFlow's op determinism is a process-wide switch.
    for name in ("first", "second"):
        result = zoo_subprocess("train", "--model", "minivggnet", "--dataset", "digits",
                                "--epochs", "1", "--limit", "128", "--augment", "--seed", "7",
                                "--deterministic", "--output", tmp_path, "--name", name)
        assert result.code == 0, result.err
    runs = [json.loads((tmp_path / n / "history.json").read_text()) for n in ("first", "second")]
    assert runs[0][0]["loss"] == runs[1][0]["loss"]
    for a, b in zip(_weights(tmp_path / "first", 1), _weights(tmp_path / "second", 1),
                    strict=True):
        np.testing.assert_array_equal(a, b)
