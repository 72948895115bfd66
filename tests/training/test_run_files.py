"""What a run writes about its inputs and its failures: the complete list of skipped files,
an evaluation that streams, and a full disk that loses nothing."""

import errno
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import write_folder
from zoo.config import resolve
from zoo.run import RunDir

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


def test_evaluation_streams_the_split_in_batches(tmp_path):
    """predict_split hands the model one batch at a time, always of one shape (the short
    last batch padded), and gives the same probabilities as predicting the split at once."""
    import keras

    from zoo.data.datasets import load_dataset
    from zoo.data.pipeline import Transform
    from zoo.evaluation import predict_split

    splits = load_dataset("digits", seed=0, val_split=0.1)
    transform = Transform(size=(8, 8), channels=1)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    seen = []
    original = model.predict_on_batch

    def spy(x):
        seen.append(len(x))
        return original(x)

    model.predict_on_batch = spy
    probs, labels = predict_split(model, splits.test, transform, batch_size=64)
    assert set(seen) == {64} and len(seen) == math.ceil(len(splits.test) / 64)
    assert len(labels) == len(splits.test) == len(probs)
    x = transform(splits.test.source.load(splits.test.indices)[0])
    np.testing.assert_allclose(probs, model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(labels, splits.test.labels)


def test_a_full_disk_names_the_file_keeps_the_run_and_resumes(zoo_cli, tmp_path,
                                                               monkeypatch):
    import keras

    original = keras.Model.save

    def save(self, path, *args, **kwargs):
        if "epoch-0002" in Path(path).name:  # epoch 2's checkpoint: half a file, disk full
            Path(path).write_bytes(b"PK\x03\x04 half a zip")
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save)
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


def test_config_of_a_run_round_trips(tmp_path):
    config = resolve(None, {"model": "lenet", "epochs": 3})
    run = RunDir.create(tmp_path, "r")
    run.write_config(config)
    assert RunDir.open(run.path).read_config()["epochs"] == 3


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
