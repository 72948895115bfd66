"""Splits: what a split is, what a loader hands over, and the operations every dataset shares.

A `Split` is a source and the indices it uses; `Splits` is a loaded dataset (train, validation,
test, class names, augmentation preset, skipped files). A loader reads its files into `Loaded`,
from the settings of `LoadOptions`; `zoo.data.datasets.load_dataset` then applies, in this
order: the class subset (`select_classes`, renumbered), the stratified validation hold-out when
the dataset has no validation split of its own (`hold_out_val`), the few-shot training sample
(`sample_per_class`) and `--limit` (`limit_split`). Every sample is chosen by the seed it is
given, the same to the bit for the same seed. A split too small for the classes it must hold
is one line naming the setting to change, never scikit-learn's words.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

import numpy as np

from zoo.errors import ZooError

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Split:
    source: object
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        return self.source.labels[self.indices]


@dataclass
class Splits:
    """A loaded dataset.

    Attributes:
        name: the dataset as the user named it (`"cifar10"`, `"folder:~/animals"`).
        kind: its spec's name: `digits`, `mnist`, ..., `folder`, `hdf5`.
        train, val, test: the splits; `val` and `test` are `None` when empty.
        label_names: class names in label order.
        image_shape: `(height, width, channels)` of the images the sources return.
        origin: where the data was read from.
        augmentation: the dataset's augmentation preset (keyword arguments of
            `zoo.data.augmentation.augment_batch`), a copy of its spec's.
        skipped: `{path: reason}` of every file a folder listing found that is not an image.
    """

    name: str
    kind: str
    train: Split
    val: Split | None
    test: Split | None
    label_names: list[str]
    image_shape: tuple[int, int, int]
    origin: str
    augmentation: dict
    skipped: dict[str, str] = field(default_factory=dict)

    def skipped_files(self) -> dict[str, str]:
        """{path: reason} of every file skipped so far: not an image by name when the folder
        was listed, or unreadable when a batch was decoded."""
        skipped = dict(self.skipped)
        for split in (self.train, self.val, self.test):
            if split is not None:
                skipped.update(split.source.bad_files)
        return skipped

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def eval_split(self, which: str = "test") -> tuple[str, Split]:
        """The split to evaluate on: `which`, or validation when there is no test split."""
        if which == "test" and self.test is not None and len(self.test):
            return "test", self.test
        if self.val is not None and len(self.val):
            return "val", self.val
        raise ZooError(f"{self.name} has no {which} or validation split to evaluate on")


@dataclass(frozen=True)
class LoadOptions:
    """The settings a loader reads, passed down from `load_dataset` (no defaults here: they
    are `zoo.config.FIELDS`' and the caller's)."""

    seed: int
    val_split: float
    limit: int | None
    data_dir: str | None
    image_size: tuple[int, int] | None
    channels: int


@dataclass
class Loaded:
    """What a loader read, before the validation hold-out and `--limit`.

    `val` is `None` when the dataset has no validation split of its own: `load_dataset` then
    holds out `val_split` of train. `label_names` is `None` when the files name no classes.
    """

    train: Split
    val: Split | None
    test: Split | None
    label_names: list[str] | None
    origin: str
    skipped: dict[str, str] = field(default_factory=dict)


def default_names(labels: np.ndarray) -> list[str]:
    """Class names for files that name none: `"0"`, `"1"`, ... up to the largest label."""
    return [str(i) for i in range(int(labels.max()) + 1)]


# ---------------------------------------------------------------------------------------------
# --classes and --per-class


class SubsetSource:
    """A source seen through a class subset: its labels renumbered `0..k-1` in the order the
    subset names them, `-1` for images of the other classes. Everything else is the wrapped
    source's (`load`, `image_shape`, `bad_files`, ...)."""

    def __init__(self, source, mapping: np.ndarray):
        self.source = source
        labels = np.asarray(source.labels, dtype=np.int64)
        self.labels = mapping[labels]

    def __len__(self) -> int:
        return len(self.source)

    def __getattr__(self, name: str):
        if name == "source":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.source, name)

    def load(self, indices: np.ndarray):
        return self.source.load(indices)


def parse_classes(name: str, text: str, label_names: list[str]) -> list[int]:
    """The class indices `text` (`"cat,dog"` or `"0,3"`) names, in its order.

    A token is a class name first, then an index. Unknown or repeated classes are one line
    naming the known classes (with a close name when there is one)."""
    tokens = [t.strip() for t in str(text).split(",") if t.strip()]
    if not tokens:
        raise ZooError(f"{name}: --classes '{text}' names no class")
    chosen = []
    for token in tokens:
        if token in label_names:
            index = label_names.index(token)
        elif token.isdigit() and int(token) < len(label_names):
            index = int(token)
        else:
            close = difflib.get_close_matches(token, label_names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            known = ", ".join(label_names[:20]) + (", ..." if len(label_names) > 20 else "")
            raise ZooError(f"{name}: no class '{token}' in --classes{hint} (known: {known}; "
                           f"or an index 0-{len(label_names) - 1})")
        if index in chosen:
            raise ZooError(f"{name}: --classes names class '{label_names[index]}' twice")
        chosen.append(index)
    if len(chosen) < 2:
        raise ZooError(f"{name}: --classes '{text}' names one class; a classifier needs two "
                       "or more")
    return chosen


def select_classes(name: str, loaded: Loaded, classes: str) -> Loaded:
    """`loaded` restricted to the classes `classes` names, renumbered in that order."""
    names = loaded.label_names or default_names(loaded.train.source.labels)
    chosen = parse_classes(name, classes, names)
    wrapped: dict[int, SubsetSource] = {}

    def subset(split: Split | None) -> Split | None:
        if split is None:
            return None
        source = split.source
        if id(source) not in wrapped:  # splits that share a source share its wrapper
            top = max(len(names), int(np.max(source.labels, initial=-1)) + 1)
            mapping = np.full(top, -1, dtype=np.int64)
            mapping[chosen] = np.arange(len(chosen))
            wrapped[id(source)] = SubsetSource(source, mapping)
        view = wrapped[id(source)]
        return Split(view, split.indices[view.labels[split.indices] >= 0])

    train = subset(loaded.train)
    if not len(train):
        raise ZooError(f"{name}: no training images of the classes {classes}")
    return Loaded(train=train, val=subset(loaded.val), test=subset(loaded.test),
                  label_names=[names[i] for i in chosen], origin=loaded.origin,
                  skipped=loaded.skipped)


def sample_per_class(name: str, split: Split, count: int | None, seed: int) -> Split:
    """At most `count` images of each class of `split`, a sample chosen by `seed`."""
    if count is None:
        return split
    if count < 1:
        raise ZooError(f"{name}: --per-class must be at least 1; got {count}")
    rng = np.random.default_rng(seed)
    labels = split.labels
    kept = []
    for c in np.unique(labels):
        positions = np.flatnonzero(labels == c)
        if len(positions) > count:
            positions = rng.choice(positions, count, replace=False)
        kept.append(positions)
    return Split(split.source, split.indices[np.sort(np.concatenate(kept))])


# ---------------------------------------------------------------------------------------------
# the validation hold-out and --limit


def held_out_count(fraction: float, count: int) -> int:
    """How many of `count` images a hold-out of `fraction` takes."""
    # rounded up, as scikit-learn's train_test_split rounds a fractional test_size
    return math.ceil(fraction * count) if fraction > 0 else 0


def stratified_split(labels: np.ndarray, held_out: int, seed: int):
    """Sorted positions `(kept, held)` of `labels`, with `held_out` of them held out, each
    class in proportion (scikit-learn's `train_test_split(stratify=...)`).

    A class with a single image stays on the kept side, the only side it can be on. When
    `held_out` is fewer than the classes with two or more images, it is one image each of
    `held_out` such classes, chosen by `seed`. Callers make sure the kept side can hold every
    class: `held_out <= len(labels) - number of classes`.
    """
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(labels))
    if held_out <= 0:
        return positions, np.array([], dtype=np.int64)
    classes, counts = np.unique(labels, return_counts=True)
    shared = classes[counts > 1]
    pool = positions[np.isin(labels, shared)]
    if held_out < len(shared):
        rng = np.random.default_rng(seed)
        chosen = rng.choice(shared, held_out, replace=False)
        held = [rng.choice(pool[labels[pool] == c]) for c in chosen]
    else:
        _, held = train_test_split(pool, test_size=int(held_out), random_state=seed,
                                   stratify=labels[pool])
    held = np.sort(np.asarray(held, dtype=np.int64))
    return np.setdiff1d(positions, held), held


def hold_out_val(name: str, kind: str, train: Split, fraction: float, seed: int):
    """`(train, val)`: `fraction` of `train` held out for validation, stratified by `seed`.
    `kind` is the dataset's spec name: a folder's message also suggests a val/ folder."""
    count = len(train)
    held_out = held_out_count(fraction, count)
    if not held_out:
        return train, None
    classes, counts = np.unique(train.labels, return_counts=True)
    shared = int((counts > 1).sum())
    setting = f"{name}: --val-split {fraction} of {count} training images leaves"
    if held_out < shared:
        which = "classes" if shared == len(classes) else "classes with two or more images"
        more = ", add images, or give a val/ folder" if kind == "folder" else " or add images"
        raise ZooError(f"{setting} {held_out} validation image{_s(held_out)} for {shared} "
                       f"{which}; raise --val-split{more}")
    if count - held_out < len(classes):
        raise ZooError(f"{setting} {count - held_out} training image{_s(count - held_out)} "
                       f"for {len(classes)} classes; lower --val-split or add images")
    kept, held = stratified_split(train.labels, held_out, seed)
    return Split(train.source, train.indices[kept]), Split(train.source, train.indices[held])


def limit_split(name: str, split: Split, limit: int | None, seed: int) -> Split:
    """At most `limit` images of `split`: a stratified sample chosen by `seed`."""
    if limit is None or len(split) <= limit:
        return split
    classes = len(np.unique(split.labels))
    if limit < classes:
        raise ZooError(f"{name}: --limit {limit} is fewer than the {classes} classes; "
                       f"use --limit {classes} or more")
    kept, _ = stratified_split(split.labels, len(split) - limit, seed)
    return Split(split.source, split.indices[kept])


def _s(count: int) -> str:
    return "" if count == 1 else "s"
