"""Batches for `model.fit`: a `keras.utils.PyDataset`, so one pipeline feeds every backend.

Batches are assembled in loader threads (OpenCV and numpy release the GIL), overlapping the
training step. The order of epoch `e` and the augmentation of each batch depend only on
`(seed, e, batch index)`, so a resumed run sees exactly the batches an uninterrupted one would.

Under data-parallel training each process reads only its share of every batch (`shard`): the
same global batch, in the same order, with the same augmentation draws as one process would
make, cut into equal parts. The short last batch of an epoch is cut to a multiple of the
device count (`multiple`), as the devices need equal parts.

The recipe (`zoo.data.recipe`: RandAugment, random erasing, MixUp, CutMix) draws from its own
generator of `(seed, epoch, batch)`: a seed per image of the global batch, so a share is
augmented as one process would augment those rows, and one mixing per batch. Row g of a batch
of n is mixed with row n - 1 - g; a process whose share lacks those partners loads and
augments them too, so data-parallel mixing equals one process's to the bit (as long as every
file of the batch reads: an unreadable one shifts the rows after it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from zoo.data.augmentation import augment_batch, skip_draws
from zoo.data.preprocessing import adapt_channels, batches_per_epoch, resize_and_crop, scale_pixels
from zoo.data.recipe import Recipe, apply_mix, balanced_order, batch_generator, mirror_rows
from zoo.errors import ZooError


@dataclass(frozen=True)
class Transform:
    """How uint8 images become model inputs."""

    size: tuple[int, int]
    channels: int
    mode: str = "scale"
    mean: tuple[float, ...] | None = None
    augment: dict | None = None
    recipe: Recipe | None = None  # training: RandAugment, erasing (here), mixing (per batch)

    def __call__(self, images: np.ndarray, rng: np.random.Generator | None = None,
                 seeds: np.ndarray | None = None) -> np.ndarray:
        """uint8 `images` resized, their channels adapted, augmented (affine from `rng`,
        then the recipe's per-image augmentation, image i seeded by `seeds[i]`) and scaled."""
        if images.shape[1:3] != self.size:
            images = np.stack([resize_and_crop(im, self.size) for im in images])
        images = adapt_channels(images, self.channels)
        if self.augment and rng is not None:
            images = augment_batch(images, rng, **self.augment)
        if self.recipe is not None and seeds is not None:
            images = self.recipe.augment(images, seeds)
        return scale_pixels(images, self.mode, list(self.mean) if self.mean else None)


def load_batch(split, chunk: np.ndarray, transform: Transform, rng=None, offset: int = 0,
               seeds: np.ndarray | None = None):
    """Images `chunk` of `split`, transformed, and their labels; unreadable files dropped.
    `offset`: where `chunk` starts in its global batch (a process's share), so that the
    augmentation draws are the ones the whole batch would make at those rows. `seeds`: the
    recipe's seed of each image of `chunk` (`zoo.data.recipe.BatchDraws`)."""
    images, ok = split.source.load(chunk)
    labels = split.source.labels[chunk]
    if not ok.all():
        images, labels = images[ok], labels[ok]
        seeds = seeds[ok] if seeds is not None else None
    if not len(images):
        return np.zeros((0, *transform.size, transform.channels), np.float32), labels
    if offset and rng is not None and transform.augment:
        skip_draws(rng, offset, **transform.augment)
    return transform(images, rng, seeds), labels


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
                  shard: tuple[int, int] | None = None, multiple: int = 1,
                  sampler: str = "shuffle"):
    """A `PyDataset` over `split` (see `BatchSequence`): global batches of `batch_size`, of
    which it yields share `shard = (index, count)` (all of each batch when None). With
    `multiple` > 1 the last batch is cut to a multiple of it (the images cut change with
    each epoch's order); an epoch whose last batch would be empty ends one batch earlier.

    With `shuffle`, `sampler` orders each epoch: `"shuffle"`, a seeded permutation;
    `"balanced"`, as many images drawn with replacement, each class about equally often
    (`zoo.data.recipe.balanced_order`). A `transform.recipe` augments and mixes the batches of
    a shuffled sequence (training); its mixing needs `one_hot` labels."""
    import keras

    parts = shard[1] if shard else 1
    if multiple % parts:
        raise ValueError(f"multiple={multiple} must divide by the {parts} shards")
    recipe = transform.recipe if shuffle else None
    if recipe is not None and recipe.mixes and not one_hot:
        raise ValueError("mixup and cutmix mix the labels: they need one_hot=True")
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
            if sampler == "balanced":
                return balanced_order(self.split.labels, self.split.indices, rng)
            return rng.permutation(self.split.indices)

        def __len__(self):
            if multiple == 1:
                return batches_per_epoch(len(self.split), self.batch_size)
            return max(1, full + (1 if last else 0))

        def _size(self, index):
            """The size of global batch `index`."""
            if multiple == 1:
                return min(self.batch_size, len(self.split) - index * self.batch_size)
            return self.batch_size if index < full else last

        def _span(self, index):
            """Where this process's share of batch `index` lies in the epoch's order, and
            where it starts within its batch."""
            size = self.batch_size if index < full or multiple == 1 else last
            start = index * self.batch_size
            if shard is None:
                return start, start + size, 0
            part = size // parts
            return start + shard[0] * part, start + (shard[0] + 1) * part, shard[0] * part

        def _draws(self, index):
            """The recipe's draws for global batch `index`, or None."""
            if recipe is None:
                return None
            return recipe.draw(batch_generator(self.seed, self.epoch, index), self._size(index),
                               self.transform.size)

        def _load(self, index, rng, draws):
            begin, end, offset = self._span(index)
            seeds = draws.seeds_at(offset, end - begin) if draws is not None else None
            return load_batch(self.split, self._order[begin:end], self.transform, rng, offset,
                              seeds)

        def _partners(self, index, x, y, draws):
            """The images and one-hot labels that rows `x` are mixed with: row g's partner
            is row n - 1 - g of the global batch; loaded and augmented here when they lie
            in another process's share."""
            if shard is None:
                return x[::-1], y[::-1]
            begin, end, offset = self._span(index)
            low, high = mirror_rows(offset, offset + (end - begin), self._size(index))
            start = index * self.batch_size
            rng = np.random.default_rng([self.seed, self.epoch, index])
            px, plabels = load_batch(self.split, self._order[start + low : start + high],
                                     self.transform, rng, low, draws.seeds_at(low, high - low))
            if not len(px):  # every partner unreadable: mix within the share
                return x[::-1], y[::-1]
            rows = np.arange(len(x)) % len(px)
            py = np.eye(num_classes, dtype=np.float32)[plabels]
            return px[::-1][rows], py[::-1][rows]

        def __getitem__(self, index):
            rng = np.random.default_rng([self.seed, self.epoch, index]) if self.shuffle else None
            draws = self._draws(index)
            x, labels = self._load(index, rng, draws)
            # A batch whose files were all unreadable would reach the model empty: take the
            # next batches' files of this epoch's order instead (the same every run).
            for later in range(1, len(self)):
                if len(x):
                    break
                later_index = (index + later) % len(self)
                x, labels = self._load(later_index, rng, self._draws(later_index))
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
            if draws is not None and draws.mix is not None:
                x, y = apply_mix(draws.mix, x, y, *self._partners(index, x, y, draws))
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
