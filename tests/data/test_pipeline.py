"""Batches for `model.fit` (`zoo.data.pipeline`)."""

import numpy as np
import pytest

from zoo.data.datasets import load_dataset
from zoo.data.pipeline import Transform, make_sequence

OPTIONS = dict(seed=1, val_split=0.2, limit=None)


def test_sequence_is_deterministic_per_epoch_and_one_hot():
    splits = load_dataset("digits", **OPTIONS)
    transform = Transform(size=(8, 8), channels=1, augment=splits.augmentation)
    a = make_sequence(splits.train, transform, 10, 32, shuffle=True, seed=3, epoch=2)
    b = make_sequence(splits.train, transform, 10, 32, shuffle=True, seed=3, epoch=1)
    b.on_epoch_end()
    xa, ya = a[4]
    xb, yb = b[4]
    assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert ya.shape == (32, 10) and set(ya.sum(axis=1)) == {1.0}


def test_loader_threads_default_and_environment(monkeypatch):
    from zoo.data.pipeline import default_workers
    from zoo.errors import ZooError

    monkeypatch.delenv("ZOO_LOADER_WORKERS", raising=False)
    for cores, threads in ((1, 4), (2, 4), (6, 6), (32, 8)):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        assert default_workers() == threads
    monkeypatch.setenv("ZOO_LOADER_WORKERS", "3")
    assert default_workers() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("ZOO_LOADER_WORKERS", bad)
        with pytest.raises(ZooError, match="ZOO_LOADER_WORKERS"):
            default_workers()
