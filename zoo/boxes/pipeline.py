"""Batches of a boxes run: letter-boxed images and targets `(N, 4 + K)`, the normalised box
then the one-hot class (K = 0 without a class head).

The order of epoch `e` and the augmentation of each batch depend only on `(seed, e, batch
index)`, as in `zoo.data.pipeline`, so a resumed run sees exactly the batches an uninterrupted
one would. Augmentation is flip, shift and zoom (`zoo.boxes.geometry.augment_with_boxes`), the
boxes moved with the pixels; rotation is left out, since a rotated box is no tight box.
"""

from __future__ import annotations

import numpy as np

from zoo.boxes.annotations import box_source
from zoo.data.pipeline import Transform, default_workers
from zoo.data.preprocessing import adapt_channels, batches_per_epoch, scale_pixels
from zoo.errors import ZooError


def class_outputs(num_classes: int) -> int:
    """Outputs of the class head: none for a single class (nothing to tell apart)."""
    return num_classes if num_classes >= 2 else 0


def box_augmentation(preset: dict | None) -> dict | None:
    """The box-safe part of a dataset's augmentation preset: shift, zoom and flip."""
    if not preset:
        return None
    kept = {key: preset.get(key, 0.0) for key in ("shift", "zoom")}
    kept["flip"] = bool(preset.get("flip", False))
    return kept if any(kept.values()) else None


def load_box_batch(split, chunk: np.ndarray, transform: Transform, num_classes: int,
                   rng: np.random.Generator | None = None):
    """Images `chunk` of `split`, letter-boxed, augmented with their boxes (when `rng` and
    `transform.augment`), scaled; and their targets `(N, 4 + K)`. Unreadable files dropped.

    Returns:
        `(x, y, kept)`: inputs, targets and the source indices of the rows kept.
    """
    source = box_source(split.source)
    images, ok = split.source.load(chunk)
    boxes = source.targets(chunk)
    labels = split.source.labels[chunk]
    images, boxes, labels, kept = images[ok], boxes[ok], labels[ok], np.asarray(chunk)[ok]
    images = adapt_channels(images, transform.channels)
    augment = box_augmentation(transform.augment)
    if augment and rng is not None and len(images):
        from zoo.boxes.geometry import augment_with_boxes

        images, boxes = augment_with_boxes(images, boxes, rng, **augment)
    x = scale_pixels(images, transform.mode, list(transform.mean) if transform.mean else None)
    k = class_outputs(num_classes)
    y = np.concatenate([boxes.astype(np.float32),
                        np.eye(max(k, 1), dtype=np.float32)[labels][:, :k]], axis=1)
    return x, y, kept


def make_box_sequence(split, transform: Transform, num_classes: int, batch_size: int, *,
                      shuffle: bool = False, seed: int = 0, epoch: int = 0):
    """A `keras.utils.PyDataset` of `(x, y)` batches of `split` (see the module's docstring);
    with `shuffle`, a seeded permutation per epoch and augmentation by `transform.augment`."""
    import keras

    box_source(split.source)  # a one-line error now, not in a loader thread

    class BoxSequence(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=default_workers(), use_multiprocessing=False,
                             max_queue_size=8)
            self.split, self.epoch = split, epoch
            self._order = self._make_order()

        def reorder(self):
            self._order = self._make_order()

        def _make_order(self):
            if not shuffle:
                return self.split.indices
            return np.random.default_rng([seed, self.epoch]).permutation(self.split.indices)

        def __len__(self):
            return batches_per_epoch(len(self.split), batch_size)

        def _load(self, index, rng):
            chunk = self._order[index * batch_size : (index + 1) * batch_size]
            return load_box_batch(self.split, chunk, transform, num_classes, rng)

        def __getitem__(self, index):
            rng = np.random.default_rng([seed, self.epoch, index]) if shuffle else None
            x, y, _ = self._load(index, rng)
            for later in range(1, len(self)):  # all unreadable: the next batches' files
                if len(x):
                    break
                x, y, _ = self._load((index + later) % len(self), rng)
            if not len(x):
                raise ZooError(f"none of the {len(self.split)} files of a split could be read "
                               "as an image")
            return x, y

        def on_epoch_end(self):
            self.epoch += 1
            self._order = self._make_order()

    return BoxSequence()
