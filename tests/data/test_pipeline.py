"""Batches for `model.fit` (`zoo.data.pipeline`)."""

import numpy as np

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
