import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.fixtures import write_folder
from zoo.data import hdf5build
from zoo.data.datasets import load_dataset
from zoo.data.hdf5build import build_hdf5, skipped_list_path
from zoo.data.pipeline import Transform, load_all
from zoo.errors import ZooError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path):
    """train/ with three broken files, and test/: 24 + 9 readable images of 3 classes."""
    _, bad = write_folder(tmp_path / "animals" / "train")
    write_folder(tmp_path / "animals" / "test", per_class=3, broken=False)
    return tmp_path / "animals", bad


def test_build_keeps_images_labels_names_and_splits(folder, tmp_path):
    root, bad = folder
    output = tmp_path / "animals.h5"
    result = build_hdf5(f"folder:{root}", output, image_size=(20, 24), workers=2, chunk=5)
    assert result.counts == {"train": 24, "val": 0, "test": 9}
    with h5py.File(output, "r") as f:
        assert f["images"].shape == (33, 20, 24, 3) and f["images"].dtype == np.uint8
        assert [n.decode() for n in f["label_names"][:]] == ["cats", "dogs", "pandas"]
        assert f["labels"][:].tolist() == [0] * 8 + [1] * 8 + [2] * 8 + [0, 0, 0, 1, 1, 1, 2, 2, 2]
        assert f["split"][:].tolist() == [0] * 24 + [2] * 9
    # the same pixels as training from the folder itself
    from_folder = load_dataset(f"folder:{root}", seed=0, val_split=0, image_size=(20, 24))
    from_file = load_dataset(f"hdf5:{output}", seed=0, val_split=0)
    assert from_file.label_names == from_folder.label_names
    transform = Transform(size=(20, 24), channels=3)
    for split in ("train", "test"):
        x_folder, y_folder = load_all(getattr(from_folder, split), transform)
        x_file, y_file = load_all(getattr(from_file, split), transform)
        assert np.array_equal(x_folder, x_file) and np.array_equal(y_folder, y_file)
    # the broken files are listed beside the file, with their reasons
    from zoo.io import read_skipped_list

    listing = read_skipped_list(skipped_list_path(output))
    assert sorted(Path(path).name for path in listing) == sorted(bad)
    assert all(listing.values())  # each with its reason
    assert sorted(Path(p).name for p in result.skipped) == sorted(bad)


def test_the_command_line_builds_and_trains_from_the_file(folder, tmp_path, zoo_cli):
    root, bad = folder
    output = tmp_path / "animals.h5"
    result = zoo_cli("build-hdf5", "--dataset", f"folder:{root}", "--image-size", "16,16",
                     "--output", output, "--workers", "2")
    assert result.code == 0, result.err
    assert result.out == f"{output}\n"
    assert "skipped 3 files" in result.err and str(skipped_list_path(output)) in result.err
    result = zoo_cli("train", "--model", "shallownet", "--dataset", f"hdf5:{output}",
                     "--epochs", "1", "--output", tmp_path / "runs", "--name", "run")
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "runs" / "run" / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["images"] == 9  # the folder's own test/
    labels = json.loads((tmp_path / "runs" / "run" / "labels.json").read_text())
    assert labels["labels"] == ["cats", "dogs", "pandas"]


def test_an_interrupted_build_leaves_no_file_and_keeps_an_old_one(folder, tmp_path, monkeypatch):
    root, _ = folder
    output = tmp_path / "animals.h5"
    output.write_bytes(b"the previous build")
    decode, calls = hdf5build._decode, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) > 12:
            raise KeyboardInterrupt
        return decode(*args)

    monkeypatch.setattr(hdf5build, "_decode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_hdf5(f"folder:{root}", output, image_size=(16, 16), workers=1, chunk=4)
    assert output.read_bytes() == b"the previous build"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["animals", "animals.h5"]


def test_a_killed_build_leaves_only_a_temporary_file(folder, tmp_path):
    root, _ = folder
    output = tmp_path / "out" / "animals.h5"
    script = f"""
import os, signal
from zoo.data import hdf5build
decode, calls = hdf5build._decode, []
def killed(*args):
    calls.append(1)
    if len(calls) > 12:
        os.kill(os.getpid(), signal.SIGKILL)
    return decode(*args)
hdf5build._decode = killed
hdf5build.build_hdf5("folder:{root}", "{output}", image_size=(16, 16), workers=1, chunk=4)
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == -9, proc.stderr
    left = list((tmp_path / "out").iterdir())
    assert not output.exists() and len(left) == 1 and left[0].name.startswith(".animals.")


def test_a_folder_without_a_readable_training_image_writes_nothing(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "f" / name).mkdir(parents=True)
        (tmp_path / "f" / name / "x.jpg").write_bytes(b"")
    with pytest.raises(ZooError, match="no readable training image"):
        build_hdf5(f"folder:{tmp_path / 'f'}", tmp_path / "f.h5", image_size=(8, 8))
    assert not (tmp_path / "f.h5").exists()
