"""The built-in datasets (`zoo.data.builtin`): read from files in their own formats, a fixed
digits split, and a download that fails in one line."""

import numpy as np
import pytest

from tests.fixtures import write_cifar10, write_idx
from zoo.data.datasets import load_dataset
from zoo.errors import ZooRuntimeError

OPTIONS = dict(seed=1, val_split=0.2, limit=None)


@pytest.mark.parametrize("tarball", [False, True])
def test_cifar10_from_local_files(tmp_path, tarball):
    write_cifar10(tmp_path, per_batch=20, tarball=tarball)
    splits = load_dataset("cifar10", **OPTIONS, data_dir=str(tmp_path))
    assert splits.train.source.images.shape == (100, 32, 32, 3)
    assert len(splits.train) == 80 and len(splits.val) == 20 and len(splits.test) == 20
    assert splits.label_names[0] == "airplane" and splits.num_classes == 10
    # stratified hold-out: every class keeps 8 train and 2 validation images
    assert np.bincount(splits.val.labels).tolist() == [2] * 10
    # pixels survive the NCHW -> NHWC transposition: the class square is bright
    image = splits.test.source.images[0]
    assert image[2, 10].min() >= 200 and image[20, 2].max() < 60


def test_idx_files(tmp_path):
    write_idx(tmp_path / "mnist")
    splits = load_dataset("mnist", **OPTIONS, data_dir=str(tmp_path))
    assert splits.image_shape == (28, 28, 1)
    assert len(splits.train) + len(splits.val) == 60 and len(splits.test) == 20


def test_digits_split_is_fixed():
    a = load_dataset("digits", **OPTIONS)
    b = load_dataset("digits", **{**OPTIONS, "seed": 99, "val_split": 0.5})
    assert (len(a.train), len(a.val), len(a.test)) == (1077, 360, 360)
    assert np.array_equal(a.test.indices, b.test.indices)
    assert np.array_equal(a.val.indices, b.val.indices)
    assert a.image_shape == (8, 8, 1) and a.train.source.images.max() == 255


def test_failed_download_says_what_and_where(tmp_path, monkeypatch):
    import keras

    def offline():
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    monkeypatch.setattr("zoo.data.builtin.KERAS_CACHE", tmp_path / "cache")
    with pytest.raises(ZooRuntimeError) as info:
        load_dataset("cifar10", **OPTIONS, data_dir=str(tmp_path / "mine"))
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and str(tmp_path / "mine") in message
    assert "\n" not in message and info.value.exit_code == 1
