import numpy as np
import pytest

from tests.fixtures import write_cifar10, write_folder, write_hdf5, write_idx
from zoo.data.datasets import load_dataset, read_idx
from zoo.data.pipeline import Transform, load_all, make_sequence
from zoo.errors import ZooError, ZooRuntimeError

CONFIG = {"seed": 1, "val_split": 0.2, "limit": None}


@pytest.mark.parametrize("tarball", [False, True])
def test_cifar10_from_local_files(tmp_path, tarball):
    write_cifar10(tmp_path, per_batch=20, tarball=tarball)
    splits = load_dataset("cifar10", {**CONFIG, "data_dir": str(tmp_path)})
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
    splits = load_dataset("mnist", {**CONFIG, "data_dir": str(tmp_path)})
    assert splits.image_shape == (28, 28, 1)
    assert len(splits.train) + len(splits.val) == 60 and len(splits.test) == 20
    raw = read_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert raw.tolist() == [c for c in range(10) for _ in range(2)]


def test_digits_split_is_fixed():
    a = load_dataset("digits", CONFIG)
    b = load_dataset("digits", {**CONFIG, "seed": 99})
    assert (len(a.train), len(a.val), len(a.test)) == (1077, 360, 360)
    assert np.array_equal(a.test.indices, b.test.indices)
    assert a.image_shape == (8, 8, 1) and a.train.source.images.max() == 255


def test_limit_caps_every_split_stratified():
    splits = load_dataset("digits", {**CONFIG, "limit": 100})
    assert len(splits.train) == 100 and len(splits.test) == 100
    assert np.bincount(splits.train.labels).min() >= 9


def test_folder_skips_broken_files_and_names_them(tmp_path):
    root, bad = write_folder(tmp_path / "animals")
    splits = load_dataset(f"folder:{root}", {**CONFIG, "val_split": 0.25}, image_size=(32, 32))
    assert splits.label_names == ["cats", "dogs", "pandas"]
    assert len(splits.train) + len(splits.val) == 27  # 24 images + 3 broken files
    transform = Transform(size=(32, 32), channels=3)
    x, y = load_all(splits.train, transform)
    x2, y2 = load_all(splits.val, transform)
    assert len(x) + len(x2) == 24 and x.shape[1:] == (32, 32, 3)
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert sorted(p.split("/")[-1] for p in splits.train.source.bad_files) == sorted(bad)


def test_folder_with_train_and_test_subfolders(tmp_path):
    write_folder(tmp_path / "train", broken=False)
    write_folder(tmp_path / "test", per_class=2, broken=False)
    splits = load_dataset(f"folder:{tmp_path}", CONFIG, image_size=(20, 20))
    assert len(splits.test) == 6 and splits.test.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert splits.image_shape == (20, 20, 3)


def test_hdf5(tmp_path):
    path = write_hdf5(tmp_path / "data.h5")
    splits = load_dataset(f"hdf5:{path}", CONFIG)
    assert splits.label_names == ["class0", "class1", "class2"]
    assert splits.image_shape == (16, 16, 3) and len(splits.train) == 24
    images, ok = splits.train.source.load(np.array([5, 1, 5]))
    assert ok.all() and np.array_equal(images[0], images[2])
    assert not np.array_equal(images[0], images[1])


def test_sequence_is_deterministic_per_epoch_and_one_hot():
    splits = load_dataset("digits", CONFIG)
    transform = Transform(size=(8, 8), channels=1, augment=dict(rotation=10, shift=0.1,
                                                                zoom=0.1, flip=False))
    a = make_sequence(splits.train, transform, 10, 32, shuffle=True, seed=3, epoch=2)
    b = make_sequence(splits.train, transform, 10, 32, shuffle=True, seed=3, epoch=1)
    b.on_epoch_end()
    xa, ya = a[4]
    xb, yb = b[4]
    assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert ya.shape == (32, 10) and set(ya.sum(axis=1)) == {1.0}


def test_unknown_dataset_suggests(tmp_path):
    with pytest.raises(ZooError, match="did you mean cifar10"):
        load_dataset("cifar01", CONFIG)


def test_failed_download_says_what_and_where(tmp_path, monkeypatch):
    import keras

    def offline():
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    monkeypatch.setattr("zoo.data.datasets.KERAS_CACHE", tmp_path / "cache")
    with pytest.raises(ZooRuntimeError) as info:
        load_dataset("cifar10", {**CONFIG, "data_dir": str(tmp_path / "mine")})
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and str(tmp_path / "mine") in message
    assert "\n" not in message and info.value.exit_code == 1
