"""Batches for `model.fit`: a `keras.utils.PyDataset`, so one pipeline feeds every backend.

Batches are assembled in loader threads (OpenCV and numpy release the GIL), overlapping the
training step. The order of epoch `e` and the augmentation of each batch depend only on
`(seed, e, batch index)`, so a resumed run sees exactly the batches an uninterrupted one would.

Under data-parallel training each process reads only its share of every batch (`shard`): the
same global batch, in the same order, with the same augmentation draws as one process would
make, cut into equal parts. The short last batch of an epoch is cut to a multiple of the
device count (`multiple`), as the devices need equal parts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from zoo.data.augmentation import augment_batch, skip_draws
from zoo.data.preprocessing import adapt_channels, batches_per_epoch, resize_and_crop, scale_pixels
from zoo.errors import ZooError


@dataclass(frozen=True)
class Transform:
    """How uint8 images become model inputs."""

    size: tuple[int, int]
    channels: int
    mode: str = "scale"
    mean: tuple[float, ...] | None = None
    augment: dict | None = None

    def __call__(self, images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        if images.shape[1:3] != self.size:
            images = np.stack([resize_and_crop(im, self.size) for im in images])
        images = adapt_channels(images, self.channels)
        if self.augment and rng is not None:
            images = augment_batch(images, rng, **self.augment)
        return scale_pixels(images, self.mode, list(self.mean) if self.mean else None)


def load_batch(split, chunk: np.ndarray, transform: Transform, rng=None, offset: int = 0):
    """Images `chunk` of `split`, transformed, and their labels; unreadable files dropped.
    `offset`: where `chunk` starts in its global batch (a process's share), so that the
    augmentation draws are the ones the whole batch would make at those rows."""
    images, ok = split.source.load(chunk)
    labels = split.source.labels[chunk]
    if not ok.all():
        images, labels = images[ok], labels[ok]
    if not len(images):
        return np.zeros((0, *transform.size, transform.channels), np.float32), labels
    if offset and rng is not None and transform.augment:
        skip_draws(rng, offset, **transform.augment)
    return transform(images, rng), labels


def default_workers() -> int:
    """Loader threads per PyDataset: `ZOO_LOADER_WORKERS`, else one per core, at least 4 and
    at most 8. Decoding (Pillow, OpenCV) releases the GIL and a thread waits on its file, so
    more threads than cores keep the step fed: on 2 cores, 2,000 photos at 64x64, 4 threads
    gave 154 images/s against 142 with 2 and 132 with 1 (`scripts/bench_folder.py`,
    BENCHMARKS.md)."""
    value = os.environ.get("ZOO_LOADER_WORKERS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ZooError(f"ZOO_LOADER_WORKERS={value!r}: expected a whole number >= 1")
        return int(value)
    return min(8, max(4, os.cpu_count() or 4))


def make_sequence(split, transform: Transform, num_classes: int, batch_size: int, *,
                  shuffle: bool = False, seed: int = 0, epoch: int = 0, one_hot: bool = True,
                  shard: tuple[int, int] | None = None, multiple: int = 1):
    """A `PyDataset` over `split` (see `BatchSequence`): global batches of `batch_size`, of
    which it yields share `shard = (index, count)` (all of each batch when None). With
    `multiple` > 1 the last batch is cut to a multiple of it (the images cut change with
    each epoch's order); an epoch whose last batch would be empty ends one batch earlier."""
    import keras

    parts = shard[1] if shard else 1
    if multiple % parts:
        raise ValueError(f"multiple={multiple} must divide by the {parts} shards")
    full, rest = divmod(len(split), batch_size)
    last = rest - rest % multiple  # the last batch's size, 0: none

    class BatchSequence(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=default_workers(), use_multiprocessing=False,
                             max_queue_size=8)
            self.split, self.transform = split, transform
            self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
            self.epoch = epoch
            self._order = self._make_order()

        def reorder(self):
            self._order = self._make_order()

        def _make_order(self):
            if not self.shuffle:
                return self.split.indices
            rng = np.random.default_rng([self.seed, self.epoch])
            return rng.permutation(self.split.indices)

        def __len__(self):
            if multiple == 1:
                return batches_per_epoch(len(self.split), self.batch_size)
            return max(1, full + (1 if last else 0))

        def _span(self, index):
            """Where this process's share of batch `index` lies in the epoch's order, and
            where it starts within its batch."""
            size = self.batch_size if index < full or multiple == 1 else last
            start = index * self.batch_size
            if shard is None:
                return start, start + size, 0
            part = size // parts
            return start + shard[0] * part, start + (shard[0] + 1) * part, shard[0] * part

        def _chunk(self, index):
            begin, end, _ = self._span(index)
            return self._order[begin:end]

        def __getitem__(self, index):
            rng = np.random.default_rng([self.seed, self.epoch, index]) if self.shuffle else None
            offset = self._span(index)[2]
            x, labels = load_batch(self.split, self._chunk(index), self.transform, rng, offset)
            # A batch whose files were all unreadable would reach the model empty: take the
            # next batches' files of this epoch's order instead (the same every run).
            for later in range(1, len(self)):
                if len(x):
                    break
                later_index = (index + later) % len(self)
                x, labels = load_batch(self.split, self._chunk(later_index), self.transform, rng,
                                       self._span(later_index)[2])
            if not len(x):
                raise ZooError(f"none of the {len(self.split)} files of a split could be read "
                               "as an image")
            begin, end, _ = self._span(index)
            if multiple > 1 and len(x) < end - begin:
                # devices need equal parts: the batch's readable images stand in for the
                # unreadable ones (listed in skipped_files.txt), so every share keeps its size
                rows = np.arange(end - begin) % len(x)
                x, labels = x[rows], labels[rows]
            if one_hot:
                y = np.eye(num_classes, dtype=np.float32)[labels]
            else:
                y = labels
            return x, y

        def on_epoch_end(self):
            self.epoch += 1
            self._order = self._make_order()

    return BatchSequence()


def load_all(split, transform: Transform, batch_size: int = 256):
    """Every image of `split`, transformed, with labels; unreadable files dropped. The whole
    split in memory: for benchmarks and small splits only (evaluation streams instead,
    `zoo.evaluation.predict_split`)."""
    batches = [load_batch(split, split.indices[start : start + batch_size], transform)
               for start in range(0, len(split), batch_size)]
    if not batches:
        return np.zeros((0, *transform.size, transform.channels), np.float32), np.zeros(0, int)
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def channel_mean(split, channels: int, sample: int = 5000, seed: int = 0) -> tuple[float, ...]:
    """The per-channel mean of (a sample of) the training images, in 0-255 units."""
    rng = np.random.default_rng(seed)
    chosen = split.indices if len(split) <= sample else rng.choice(split.indices, sample,
                                                                   replace=False)
    images, ok = split.source.load(np.sort(chosen))
    images = adapt_channels(images[ok], channels)
    return tuple(float(v) for v in images.reshape(-1, channels).mean(axis=0))
