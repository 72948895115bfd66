"""The `hdf5:PATH` dataset (`zoo.data.hdf5`): images read lazily, the file checked first, its
own split kept."""

import numpy as np
import pytest

from tests.fixtures import write_hdf5
from zoo.data.datasets import load_dataset
from zoo.errors import ZooError

OPTIONS = dict(seed=1, val_split=0.2, limit=None)


def test_hdf5(tmp_path):
    path = write_hdf5(tmp_path / "data.h5")
    splits = load_dataset(f"hdf5:{path}", **OPTIONS)
    assert splits.label_names == ["class0", "class1", "class2"]
    assert splits.image_shape == (16, 16, 3) and len(splits.train) == 24
    images, ok = splits.train.source.load(np.array([5, 1, 5]))
    assert ok.all() and np.array_equal(images[0], images[2])
    assert not np.array_equal(images[0], images[1])


def test_hdf5_checks_say_what_is_wrong(tmp_path):
    import h5py

    with h5py.File(tmp_path / "nolabels.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((4, 8, 8, 3), np.uint8))
    with pytest.raises(ZooError, match="missing dataset\\(s\\) labels"):
        load_dataset(f"hdf5:{tmp_path / 'nolabels.h5'}", **OPTIONS)
    with pytest.raises(ZooError, match="no such file"):
        load_dataset(f"hdf5:{tmp_path / 'absent.h5'}", **OPTIONS)


def test_hdf5_keeps_its_split_and_takes_classes(tmp_path):
    import h5py

    path = write_hdf5(tmp_path / "data.h5", n_per_class=10, classes=3)
    with h5py.File(path, "a") as f:
        f.create_dataset("split", data=np.array([0] * 6 + [1] * 2 + [2] * 2 + [0] * 20))
    splits = load_dataset(f"hdf5:{path}", **OPTIONS)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (26, 2, 2)
    subset = load_dataset(f"hdf5:{path}", **OPTIONS, classes="class2,class0")
    assert subset.label_names == ["class2", "class0"] and len(subset.test) == 2
    assert np.bincount(subset.train.labels).tolist() == [10, 6]
