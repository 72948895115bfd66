"""The features file: its layout and attributes, and interrupted or foreign files refused."""

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.features.helpers import write_blobs
from zoo.data.datasets import load_dataset
from zoo.data.pipeline import Transform, load_batch
from zoo.features.extractors import CLASSIC
from zoo.features.hdf5 import read_features


def test_layout_and_attributes(zoo_cli, tmp_path):
    out = tmp_path / "hu.h5"
    result = zoo_cli("extract", "--model", "hu", "--dataset", "digits", "--limit", "30",
                     "--batch-size", "7", "--output", out)
    assert result.code == 0, result.err
    splits = load_dataset("digits", seed=42, val_split=0.1, limit=30, image_size=(64, 64))
    with h5py.File(out, "r") as f:
        assert set(f) == {"features", "labels", "label_names", "split"}
        assert f["features"].dtype == np.float32 and f["features"].shape == (90, 7)
        assert f["labels"].shape == (90,)
        assert [n.decode() for n in f["label_names"][:]] == [str(i) for i in range(10)]
        split = np.char.decode(f["split"][:], "ascii")
        assert list(split) == ["train"] * 30 + ["val"] * 30 + ["test"] * 30
        attrs = dict(f.attrs)
        assert attrs["complete"] and attrs["rows"] == 90 and attrs["dim"] == 7
        assert (attrs["model"], attrs["dataset"], attrs["layer"]) == ("hu", "digits", "")
        assert "Hu moments" in attrs["preprocessing"]
        assert list(attrs["input_shape"]) == [64, 64, 3]
        # the rows are the extractor's features of the split's images, in order
        transform = Transform(size=(64, 64), channels=3, mode="raw")
        for which, part in (("train", splits.train), ("test", splits.test)):
            x, y = load_batch(part, part.indices, transform)
            np.testing.assert_allclose(f["features"][split == which], CLASSIC["hu"](x),
                                       rtol=1e-6)
            np.testing.assert_array_equal(f["labels"][split == which], y)


def test_an_extraction_that_fails_leaves_nothing(zoo_cli, tmp_path, monkeypatch):
    calls = []

    def failing(images):
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return np.zeros((len(images), 7))

    monkeypatch.setattr(CLASSIC["hu"], "fn", failing)
    result = zoo_cli("extract", "--model", "hu", "--dataset", "digits", "--limit", "20",
                     "--batch-size", "10", "--output", tmp_path / "hu.h5")
    assert result.code == 130 and len(calls) == 2
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one


KILLED = """
import os, numpy as np
from zoo.features.hdf5 import write_features
def batches():
    yield np.ones((5, 7)), np.zeros(5, int), "train"
    os._exit(9)  # as SIGKILL would: no clean-up runs
write_features({path!r}, batches(), ["a"], {{"model": "hu"}})
"""


def test_a_file_left_by_a_kill_is_refused(zoo_cli, tmp_path):
    target = tmp_path / "f.h5"
    proc = subprocess.run([sys.executable, "-c", KILLED.format(path=str(target))])
    assert proc.returncode == 9
    assert not target.exists()
    (left,) = tmp_path.iterdir()  # the temporary file, beside the target
    assert left.name.startswith(".f.") and left.suffix == ".h5"
    result = zoo_cli("fit-features", left, "--classifier", "knn", "--output", tmp_path)
    assert result.code == 2
    # killed before HDF5 wrote its superblock: not even readable, and refused as such
    assert result.err == (f"zoo: error: {left} is not a readable HDF5 file (not one of 'zoo "
                          "extract', or one whose extraction was interrupted); write it with "
                          "'zoo extract'\n")


def test_a_file_without_the_complete_mark_is_refused(zoo_cli, tmp_path):
    path = write_blobs(tmp_path / "blobs.h5", complete=False)
    result = zoo_cli("fit-features", path, "--classifier", "logreg", "--output", tmp_path)
    assert result.code == 2 and "is incomplete" in result.err
    assert len(result.err.splitlines()) == 1


@pytest.mark.parametrize("kind", ["images", "text", "missing"])
def test_files_without_features_are_one_line(zoo_cli, tmp_path, kind):
    path = tmp_path / "x.h5"
    if kind == "images":  # an image file of 'zoo build-hdf5', say
        with h5py.File(path, "w") as f:
            f.create_dataset("images", data=np.zeros((2, 4, 4, 3), np.uint8))
            f.create_dataset("labels", data=np.zeros(2, int))
    elif kind == "text":
        path.write_text("not HDF5\n")
    result = zoo_cli("fit-features", path, "--classifier", "knn", "--output", tmp_path / "o")
    assert result.code == 2 and len(result.err.splitlines()) == 1
    expected = {"images": "holds no features", "text": "is not a readable HDF5 file",
                "missing": "features file not found"}[kind]
    assert expected in result.err
    assert not (tmp_path / "o").exists()


def test_read_features_round_trip(tmp_path):
    data = read_features(write_blobs(tmp_path / "b.h5"))
    assert data.features.shape == (150, 7) and data.label_names == ["zero", "one", "two"]
    assert data.extractor["name"] == "hu"
    x, y = data.part("val")
    assert x.shape == (30, 7) and set(y) == {0, 1, 2}


def test_unreadable_images_are_skipped_and_named(zoo_cli, tmp_path, caplog):
    from tests.fixtures import write_folder

    root, bad = write_folder(tmp_path / "animals", per_class=6)
    out = tmp_path / "px.h5"
    result = zoo_cli("extract", "--model", "pixels", "--dataset", f"folder:{root}",
                     "--val-split", "0.3", "--output", out)
    assert result.code == 0, result.err
    data = read_features(out)
    assert len(data.features) == 18  # 6 readable images of each class; the 3 broken dropped
    from zoo.data.hdf5build import skipped_list_path
    from zoo.io import read_skipped_list

    listing = skipped_list_path(out)
    assert f"skipped 3 input files (not images, or unreadable); the list is in {listing}" \
        in caplog.text  # the count and where; the names, all of them, are in the list
    skipped = read_skipped_list(listing)
    assert sorted(Path(path).name for path in skipped) == sorted(bad)
    assert all(skipped.values())


def test_a_subset_of_classes(zoo_cli, tmp_path):
    out = tmp_path / "hu.h5"
    result = zoo_cli("extract", "--model", "hu", "--dataset", "digits", "--classes", "3,8",
                     "--per-class", "20", "--output", out)
    assert result.code == 0, result.err
    data = read_features(out)
    assert data.label_names == ["3", "8"] and set(data.labels) == {0, 1}
    assert (data.split == "train").sum() == 40


def test_an_extractors_fitted_state_is_stored_beside_the_features(tmp_path):
    from zoo.features.hdf5 import write_features

    codebook = np.arange(12, dtype=np.float32).reshape(3, 4)
    rows = [(np.eye(3, dtype=np.float32), np.arange(3), "train")]
    write_features(tmp_path / "a.h5", rows, ["a", "b", "c"], {"model": "m"},
                   arrays={"codebook": codebook})
    data = read_features(tmp_path / "a.h5")
    assert set(data.arrays) == {"codebook"}
    np.testing.assert_array_equal(data.arrays["codebook"], codebook)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert list(f["extractor"]) == ["codebook"]
    write_features(tmp_path / "b.h5", rows, ["a", "b", "c"], {"model": "m"})
    assert read_features(tmp_path / "b.h5").arrays == {}
