"""The readers of on-disk formats (`zoo.data.formats`): IDX and the checks of an HDF5 file."""

import numpy as np
import pytest

from tests.fixtures import write_hdf5, write_idx
from zoo.data.formats import check_hdf5, read_hdf5_split, read_idx
from zoo.errors import ZooError


def test_read_idx(tmp_path):
    write_idx(tmp_path / "mnist")
    raw = read_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert raw.tolist() == [c for c in range(10) for _ in range(2)]


def test_check_hdf5_says_what_is_wrong(tmp_path):
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ZooError, match="not an HDF5 file"):
        check_hdf5(tmp_path / "text.h5")
    assert check_hdf5(write_hdf5(tmp_path / "ok.h5", classes=2)) == ["class0", "class1"]


def test_an_hdf5_split_is_read_from_codes_or_names_and_refuses_others(tmp_path):
    import h5py

    path = write_hdf5(tmp_path / "data.h5", n_per_class=2, classes=2)
    assert read_hdf5_split(path) is None
    with h5py.File(path, "a") as f:
        f.create_dataset("split", data=[b"train", b"val", b"test", b"train"])
    assert read_hdf5_split(path).tolist() == [0, 1, 2, 0]
    with h5py.File(path, "a") as f:
        del f["split"]
        f.create_dataset("split", data=np.array([0, 1, 3, 0]))
    with pytest.raises(ZooError, match=r"split values must be 0 \(train\), 1 \(val\) or 2 "
                                       r"\(test\); found 3"):
        read_hdf5_split(path)
