"""zoo/training/trainer.py: a new run and a resumed one, then one fit: the files a run
writes, exact resumes (crashed, SIGKILLed, mixed precision), the resume's own plan, what a
run writes about its inputs and its failures (skipped files, a full disk)."""

import csv
import errno
import json
import math
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import needs_graphviz
from tests.fixtures import write_cifar10, write_folder
from tests.training.helpers import Crash, checkpoint_weights, crash_after
from zoo.config import resolve
from zoo.data.builtin import DEBIAN_FASHION_MNIST
from zoo.run import RunDir

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


def test_the_final_evaluation_loads_model_keras_only_when_the_weights_differ(tmp_path,
                                                                              monkeypatch):
    import zoo.evaluation
    from zoo.evaluation import evaluate_run
    from zoo.training.trainer import train

    loads, load = [], zoo.evaluation.load_model
    monkeypatch.setattr(zoo.evaluation, "load_model",
                        lambda *args, **kwargs: loads.append(args[0]) or load(*args, **kwargs))
    flags = {"model": "lenet", "dataset": "digits", "epochs": 1, "limit": 200,
             "output": str(tmp_path)}
    run = train(resolve(None, {**flags, "name": "last"}))
    assert loads == []  # its one epoch was the best: model.keras holds the weights in memory
    trained = json.loads((run / "metrics.json").read_text())
    loaded = evaluate_run(run)
    assert loads == [run / "model.keras"]
    assert loaded["loss"] == pytest.approx(trained["loss"], rel=1e-5)
    assert loaded["accuracy"] == trained["accuracy"]
    # lr 1e-30 freezes the weights: val_loss improves at epoch 1 and never again, so at the
    # end the weights in memory are epoch 2's and the evaluation loads epoch 1's model.keras
    frozen = train(resolve(None, {**flags, "epochs": 2, "lr": 1e-30, "optimizer": "sgd",
                                  "momentum": 0.0, "monitor": "val_loss", "name": "frozen"}))
    assert loads[1:] == [frozen / "model.keras"]


@needs_graphviz
def test_run_has_model_graph(zoo_cli, tmp_path):
    zoo_cli("train", "--model", "shallownet", "--dataset", "digits", "--epochs", "1",
            "--output", tmp_path, "--name", "g", "--limit", "100")
    _png_ok(tmp_path / "g" / "model.png")


def test_interrupted_run_resumes_to_the_same_weights(zoo_cli, tmp_path):
    from zoo.training.trainer import train

    flags = {"model": "minivggnet", "dataset": "digits", "epochs": 3, "batch_size": 64,
             "lr": 0.02, "lr_schedule": "time", "lr_decay": 0.01, "augment": True,
             "limit": 128, "seed": 5, "output": str(tmp_path)}
    train(resolve(None, {**flags, "name": "straight"}))
    with pytest.raises(Crash):
        train(resolve(None, {**flags, "name": "crashed"}), callbacks=[crash_after(1)])
    crashed = tmp_path / "crashed"
    assert json.loads((crashed / "checkpoint" / "state.json").read_text())["epoch"] == 1

    result = zoo_cli("train", "--resume", crashed, "--epochs", "3", "--no-report")
    assert result.code == 0, result.err
    # --no-report is where the run ends, not its plan: a resume may say it; no page is written
    assert (tmp_path / "straight" / "report.html").is_file()
    assert not (crashed / "report.html").exists()
    assert yaml.safe_load((crashed / "config.yaml").read_text())["report"] is False
    history = json.loads((crashed / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    steps = 2  # 128 images / 64
    assert [row["lr"] for row in history] == pytest.approx(
        [0.02 / (1 + 0.01 * e * steps) for e in range(3)], rel=1e-5)
    straight = json.loads((tmp_path / "straight" / "history.json").read_text())
    assert [r["loss"] for r in history] == [r["loss"] for r in straight]
    for a, b in zip(checkpoint_weights(crashed, 3),
                    checkpoint_weights(tmp_path / "straight", 3), strict=True):
        np.testing.assert_array_equal(a, b)
    assert json.loads((crashed / "metrics.json").read_text())["epochs"] == 3


@pytest.mark.parametrize("precision, compute", [("mixed_float16", "float16"),
                                                ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_run_resumes_exactly(zoo_cli, tmp_path, precision, compute):
    import keras

    from zoo.training.trainer import train

    flags = {"model": "minivggnet", "dataset": "digits", "epochs": 2, "batch_size": 32,
             "lr": 0.05, "lr_schedule": "time", "lr_decay": 0.01, "precision": precision,
             "limit": 128, "seed": 2, "output": str(tmp_path), "report": False}
    try:
        straight = train(resolve(None, {**flags, "name": "straight"}))
        with pytest.raises(Crash):
            train(resolve(None, {**flags, "name": "crashed"}), callbacks=[crash_after(1)])
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


def test_resume_refuses_other_settings_and_finished_runs(zoo_cli, tmp_path):
    zoo_cli("train", "--model", "lenet", "--epochs", "1", "--output", tmp_path, "--name", "r",
            "--limit", "100")
    result = zoo_cli("train", "--resume", tmp_path / "r", "--lr", "0.5")
    assert result.code == 2 and "--lr" in result.err
    result = zoo_cli("train", "--resume", tmp_path / "r", "--epochs", "1")
    assert result.code == 2 and "already trained 1" in result.err


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
    # 4,000 images of each split, 2 epochs: 0.796 on an AMD EPYC (a constant guess is 0.10)
    result = zoo_cli("train", "--model", "lenet", "--dataset", "fashion_mnist", "--epochs", "2",
                     "--limit", "4000", "--optimizer", "adam", "--lr", "0.001",
                     "--batch-size", "64", "--output", tmp_path, "--name", "fm", "--no-report")
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "fm" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["images"] == 4000
    assert metrics["accuracy"] > 0.75, metrics["accuracy"]


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


def test_deterministic_runs_repeat_exactly(tmp_path):
    # In subprocesses (both at once): TensorFlow's op determinism is a process-wide switch.
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-m", "zoo", "train", "--model", "minivggnet",
                               "--dataset", "digits", "--epochs", "1", "--limit", "128",
                               "--augment", "--seed", "7", "--deterministic", "--output",
                               str(tmp_path), "--name", name], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for name in ("first", "second")]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    runs = [json.loads((tmp_path / n / "history.json").read_text()) for n in ("first", "second")]
    assert runs[0][0]["loss"] == runs[1][0]["loss"]
    for a, b in zip(checkpoint_weights(tmp_path / "first", 1),
                    checkpoint_weights(tmp_path / "second", 1), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# the resume's plan


def test_resume_without_epochs_finishes_the_runs_own_epochs(zoo_cli, tmp_path):
    """A 12-epoch cosine run killed after epoch 11 resumes, with no flags, to epoch 12 (the
    flag default of 10 said 'already trained'), on the schedule it was planned with."""
    from zoo.training.trainer import train

    flags = {"model": "shallownet", "dataset": "digits", "epochs": 12, "limit": 40,
             "batch_size": 64, "lr": 0.1, "lr_schedule": "cosine", "output": str(tmp_path),
             "name": "long"}
    with pytest.raises(Crash):
        train(resolve(None, flags), callbacks=[crash_after(11)])
    run = tmp_path / "long"
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 11

    result = zoo_cli("train", "--resume", run)
    assert result.code == 0, result.err
    history = json.loads((run / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(1, 13))
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 12
    # one step per epoch: the cosine of the 12-epoch plan, not of 10 epochs
    planned = [0.1 * 0.5 * (1 + math.cos(math.pi * e / 12)) for e in range(12)]
    assert [row["lr"] for row in history] == pytest.approx(planned, rel=1e-5, abs=1e-9)

    result = zoo_cli("train", "--resume", run, "--epochs", "14")  # --epochs extends
    assert result.code == 0, result.err
    assert len(json.loads((run / "history.json").read_text())) == 14
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 14


def test_resume_refuses_config_and_changed_settings_on_the_command_line(zoo_cli, tmp_path):
    zoo_cli("train", "--model", "lenet", "--epochs", "2", "--limit", "100", "--output",
            tmp_path, "--name", "r")
    before = (tmp_path / "r" / "config.yaml").read_text()
    for argv, needle in ((["--batch-size", "32"], "--batch-size cannot change"),
                         (["--model", "alexnet"], "--model cannot change"),
                         (["--config", tmp_path / "r" / "config.yaml"], "--config starts a new")):
        result = zoo_cli("train", "--resume", tmp_path / "r", *argv)
        assert result.code == 2 and needle in result.err and result.err.count("\n") == 1
    assert (tmp_path / "r" / "config.yaml").read_text() == before  # nothing rewritten


def test_a_run_written_by_zoo_0_1_resumes_with_its_best_value(tmp_path):
    """state.json of zoo 0.1 held `"best": float` and `"monitor"`; the best value must carry
    over (here an unbeatable -1.0, so no epoch after the resume may replace model.keras)."""
    from zoo.training.trainer import train

    flags = {"model": "lenet", "dataset": "digits", "epochs": 3, "limit": 100,
             "output": str(tmp_path), "name": "old"}
    with pytest.raises(Crash):
        train(resolve(None, flags), callbacks=[crash_after(1)])
    run = tmp_path / "old"
    state_file = run / "checkpoint" / "state.json"
    state = json.loads(state_file.read_text())
    state.pop("best_model")
    state_file.write_text(json.dumps({**state, "best": -1.0, "monitor": "val_loss"}))
    best_before = (run / "model.keras").read_bytes()

    train(resolve(None, flags), resume=run)
    state = json.loads(state_file.read_text())
    assert state["epoch"] == 3 and state["best_model"]["best"] == -1.0
    assert (run / "model.keras").read_bytes() == best_before


def test_a_finished_run_is_refused_before_its_data_is_read(zoo_cli, tmp_path):
    from tests.fixtures import write_folder

    root, _ = write_folder(tmp_path / "animals", broken=False)
    zoo_cli("train", "--model", "shallownet", "--dataset", f"folder:{root}", "--image-size",
            "16,16", "--epochs", "1", "--output", tmp_path, "--name", "done")
    import shutil

    shutil.rmtree(root)  # the data is gone; the answer does not need it
    result = zoo_cli("train", "--resume", tmp_path / "done")
    assert result.code == 2 and "already trained 1 of its 1 epochs" in result.err


# ---------------------------------------------------------------------------------------------
# inputs and failures


ODD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "odd-images"
needs_odd = pytest.mark.skipif(not ODD.is_dir(), reason="../shared/data/odd-images is missing")


@needs_odd
def test_training_on_real_folders_reads_every_good_image_and_lists_every_bad_one(
        zoo_subprocess, tmp_path):
    """The odd-images folder, twice over (as class 'a' and class 'b'), plus a few non-image
    files: all 28 good images train, and the 12 broken and 7 non-image files are listed with
    their reasons in the run, not cut to five names on the terminal."""
    root = tmp_path / "photos"
    for cls in ("a", "b"):
        shutil.copytree(ODD, root / cls, ignore=shutil.ignore_patterns("README.md"))
    for i in range(7):
        (root / "a" / f"notes{i}.txt").write_text("not an image")
    good = sorted(p.name for p in ODD.glob("good*"))
    bad = sorted(p.name for p in ODD.glob("bad_*"))
    assert (len(good), len(bad)) == (14, 6)

    result = zoo_subprocess("train", "--model", "shallownet", "--dataset", f"folder:{root}",
                            "--image-size", "24,24", "--epochs", "1", "--val-split", "0.25",
                            "--batch-size", "8", "--output", tmp_path, "--name", "odd")
    assert result.code == 0, result.err
    run = RunDir(tmp_path / "odd")
    skipped = run.read_skipped()
    assert sorted(Path(p).name for p in skipped) == sorted(
        bad * 2 + [f"notes{i}.txt" for i in range(7)])
    assert all(reason for reason in skipped.values())
    metrics = json.loads(run.metrics_file.read_text())
    assert metrics["skipped_files"] == 19
    assert metrics["split"] == "val" and metrics["images"] > 0
    assert "19" in result.err and str(run.skipped_file) in result.err
    assert "..." not in result.err
    assert "[ WARN" not in result.err and "libpng" not in result.err  # no native chatter


def test_a_full_disk_names_the_file_keeps_the_run_and_resumes(zoo_cli, tmp_path,
                                                               monkeypatch):
    import keras

    original = keras.Model.save

    def save(self, path, *args, **kwargs):
        if "epoch-0002" in Path(path).name:  # epoch 2's checkpoint: half a file, disk full
            Path(path).write_bytes(b"PK\x03\x04 half a zip")
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(self, path, *args, **kwargs)

    from zoo.io import atomic_path
    from zoo.training import callbacks

    original_link = callbacks.link_or_copy

    def link_or_copy(source, path):  # the checkpoint of an epoch that wrote model.keras
        if "epoch-0002" in Path(path).name:
            with atomic_path(path) as tmp:
                tmp.write_bytes(b"PK\x03\x04 half a zip")
                raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
        return original_link(source, path)

    monkeypatch.setattr(keras.Model, "save", save)
    monkeypatch.setattr(callbacks, "link_or_copy", link_or_copy)
    result = zoo_cli("train", "--model", "lenet", "--epochs", "3", "--limit", "100",
                     "--output", tmp_path, "--name", "full")
    run = tmp_path / "full"
    assert result.code == 1
    assert result.err.count("\n") == 1, result.err
    assert f"no space left on device writing {run / 'checkpoint' / 'epoch-0002.keras'};" \
        in result.err
    assert "epoch 1 is saved" in result.err and f"zoo train --resume {run}" in result.err
    assert not list(run.rglob(".*"))  # no partial model file left behind
    monkeypatch.setattr(keras.Model, "save", original)
    monkeypatch.setattr(callbacks, "link_or_copy", original_link)
    result = zoo_cli("train", "--resume", run)
    assert result.code == 0, result.err
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1, 2, 3]


def test_skipped_list_and_count_on_a_folder_with_broken_files(zoo_cli, tmp_path):
    root, bad = write_folder(tmp_path / "animals")
    result = zoo_cli("train", "--model", "shallownet", "--dataset", f"folder:{root}",
                     "--image-size", "24,24", "--epochs", "1", "--output", tmp_path,
                     "--name", "f")
    assert result.code == 0, result.err
    run = RunDir(tmp_path / "f")
    assert sorted(Path(p).name for p in run.read_skipped()) == sorted(bad)
    assert json.loads(run.metrics_file.read_text())["skipped_files"] == 3
    # zoo evaluate keeps the list whole and the count right
    assert zoo_cli("evaluate", run.path).code == 0
    assert json.loads(run.metrics_file.read_text())["skipped_files"] == 3


def _broken_first_batch(root: Path, broken_each: int, good_each: int) -> Path:
    """Class folders whose files, in the sequence's order, start with broken ones."""
    import cv2

    from tests.fixtures import class_images

    x, _ = class_images(good_each, 2, size=(16, 16)) if good_each else (None, None)
    for c, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        for i in range(broken_each):
            (root / cls / f"0broken{i}.jpg").write_text("<html>404</html>")
        for i in range(good_each):
            cv2.imwrite(str(root / cls / f"img{i}.png"), x[c * good_each + i])
    return root


def test_a_batch_of_only_broken_files_takes_the_next_files(zoo_cli, tmp_path):
    from zoo.data.datasets import load_dataset
    from zoo.data.pipeline import Transform, make_sequence

    root = _broken_first_batch(tmp_path / "p", broken_each=2, good_each=3)
    splits = load_dataset(f"folder:{root}", seed=0, val_split=0.0)
    seq = make_sequence(splits.train, Transform(size=(16, 16), channels=3), 2, 2)
    batches = [seq[i] for i in range(len(seq))]  # unshuffled: 4 broken files come first
    assert all(len(x) for x, _ in batches)
    np.testing.assert_array_equal(batches[0][0], batches[1][0])  # the next batch's files

    result = zoo_cli("train", "--model", "shallownet", "--dataset", f"folder:{root}",
                     "--image-size", "16,16", "--epochs", "1", "--batch-size", "2",
                     "--val-split", "0.4", "--output", tmp_path, "--name", "r")
    assert result.code == 0, result.err


def test_a_folder_of_only_broken_files_is_one_line_and_lists_them(zoo_cli, tmp_path):
    root = _broken_first_batch(tmp_path / "p", broken_each=3, good_each=0)
    result = zoo_cli("train", "--model", "shallownet", "--dataset", f"folder:{root}",
                     "--image-size", "16,16", "--epochs", "1", "--val-split", "0.5",
                     "--output", tmp_path, "--name", "r")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "could be read as an image" in result.err
    assert len(RunDir(tmp_path / "r").read_skipped()) == 3  # the training split's


def test_a_full_disk_before_the_first_epoch_says_to_start_again(zoo_cli, tmp_path,
                                                                monkeypatch):
    import zoo.run

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(zoo.run, "write_text", full)
    result = zoo_cli("train", "--model", "lenet", "--epochs", "1", "--limit", "100",
                     "--output", tmp_path, "--name", "full")
    assert result.code == 1 and result.err.count("\n") == 1
    assert f"writing {tmp_path / 'full' / 'config.yaml'}; no epoch" in result.err
    assert "start the run again" in result.err
