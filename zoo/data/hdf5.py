"""The `hdf5:PATH` dataset: a file of `images`, `labels` and optionally `label_names` and `split`,
as `zoo build-hdf5` (`zoo.data.hdf5build`) writes it.

The file is checked first (`zoo.data.formats.check_hdf5`), then read lazily, a batch at a time
(`zoo.data.sources.HDF5Source`). A file with a `split` dataset keeps its own train, validation
and test images; one without is all training images, validation held out by `load_dataset`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.data.formats import check_hdf5, read_hdf5_split
from zoo.data.sources import HDF5Source
from zoo.data.splits import SPLIT_NAMES, Loaded, LoadOptions, Split
from zoo.errors import ZooError


def load_hdf5(path: str, options: LoadOptions) -> Loaded:
    """The images of HDF5 file `path` (`hdf5:PATH`); `options` change nothing here (the file
    fixes the size and channels).

    Raises:
        ZooError: no such file, not a dataset file (`check_hdf5`), or a `split` that marks no
            image as train.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ZooError(f"hdf5:{path}: no such file")
    names = check_hdf5(file)
    source = HDF5Source(file)
    split = read_hdf5_split(file)
    if split is None:
        return Loaded(Split(source, np.arange(len(source))), None, None, names, str(file))
    parts = {s: np.flatnonzero(split == code) for code, s in enumerate(SPLIT_NAMES)}
    if not len(parts["train"]):
        raise ZooError(f"hdf5:{path}: its split dataset marks no image as train")
    return Loaded(
        train=Split(source, parts["train"]),
        val=Split(source, parts["val"]) if len(parts["val"]) else None,
        test=Split(source, parts["test"]) if len(parts["test"]) else None,
        label_names=names,
        origin=str(file),
    )
