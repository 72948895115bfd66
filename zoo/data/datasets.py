"""The dataset registry: `digits`, `mnist`, `fashion_mnist`, `cifar10`, `cifar100`,
`folder:PATH` and `hdf5:PATH`.

Each dataset is described once, by a `DatasetSpec`: where its files come from, its loader and
its augmentation preset. `load_dataset` returns `Splits`: train, validation (held out from
train, stratified, when the dataset has none) and test, each a `Split` (a source and the
indices it uses), plus the class names, the augmentation preset and the files a folder
listing skipped. `classes` (a subset, renumbered) and `per_class` (a few-shot training set)
apply to every dataset. Loaders take their settings as explicit arguments: the defaults of `seed`
and `val_split` live in `zoo.config.FIELDS`, nowhere here. Loaders accept files the user
already has (`--data-dir`); a download that fails is one line saying what was tried and where
to put the file. A split too small for the classes it must hold is one line too, naming the
setting to change, never scikit-learn's words.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.backend import keras_home, load_keras
from zoo.data.formats import check_hdf5, read_cifar, read_hdf5_split, read_idx
from zoo.data.sources import IMAGE_SUFFIXES, ArraySource, FileSource, HDF5Source
from zoo.errors import ZooError, ZooRuntimeError, first_line

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE = keras_home() / "datasets"

FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                  "Sneaker", "Bag", "Ankle boot"]
CIFAR10_LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                  "ship", "truck"]


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
            `zoo.data.preprocessing.augment_batch`), a copy of its spec's.
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


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset, described once.

    Attributes:
        name: the registry key (`"cifar10"`), or the prefix of `PREFIX:PATH` datasets.
        loader: `loader(options) -> Loaded` for a named dataset, `loader(path, options)` for a
            prefix dataset.
        augmentation: the augmentation preset, keyword arguments of
            `zoo.data.preprocessing.augment_batch`.
        classes, shape, sizes, origin, files: what `zoo datasets` shows (named datasets).
    """

    name: str
    loader: Callable[..., Loaded]
    augmentation: dict
    classes: int | None = None
    shape: tuple[int, int, int] | None = None
    sizes: str = ""
    origin: str = ""
    files: str = ""

    def locate(self, data_dir: str | None = None) -> Path | None:
        """Where this dataset's files are on this machine, or None (a download is needed)."""
        found = _find_local(self.name, data_dir)
        return found[0] if found else None


# ---------------------------------------------------------------------------------------------
# finding local files

_LOCAL_FILES = {
    "mnist": [("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"), ("mnist.npz",)],
    "fashion_mnist": [("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")],
    "cifar10": [("cifar-10-batches-py",), ("cifar-10-python.tar.gz",)],
    "cifar100": [("cifar-100-python",), ("cifar-100-python.tar.gz",)],
}


def _candidate_dirs(name: str, data_dir: str | None) -> list[Path]:
    dirs = []
    if data_dir:
        dirs += [Path(data_dir), Path(data_dir) / name]
    if name == "fashion_mnist":
        dirs += [DEBIAN_FASHION_MNIST, KERAS_CACHE / "fashion-mnist"]
    dirs += [KERAS_CACHE, KERAS_CACHE / name]
    return dirs


def _find_local(name: str, data_dir: str | None) -> tuple[Path, tuple[str, ...]] | None:
    if name == "digits":
        return Path("sklearn"), ()
    for directory in _candidate_dirs(name, data_dir):
        for group in _LOCAL_FILES.get(name, []):
            if all((directory / f).exists() for f in group):
                return directory, group
    return None


def _download_failed(name: str, url: str, files: str, exc: Exception, data_dir: str | None):
    reason = first_line(exc, limit=None)
    where = f"--data-dir {data_dir}" if data_dir else f"{KERAS_CACHE}/ or pass --data-dir DIR"
    raise ZooRuntimeError(
        f"{name}: no local files and the download of {url} failed ({reason}); "
        f"put {files} in {where}"
    )


# ---------------------------------------------------------------------------------------------
# loaders of the named datasets


def _arrays(train, test, label_names: list[str] | None, origin: str) -> Loaded:
    x_train, y_train = train
    source_train = ArraySource(np.asarray(x_train), np.asarray(y_train).ravel())
    source_test = ArraySource(np.asarray(test[0]), np.asarray(test[1]).ravel())
    return Loaded(
        train=Split(source_train, np.arange(len(source_train))),
        val=None,
        test=Split(source_test, np.arange(len(source_test))),
        label_names=label_names,
        origin=origin,
    )


def _load_digits(options: LoadOptions) -> Loaded:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 0-16 gray levels -> 0-255 uint8, so every dataset reaches the pipeline in one format.
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)
    source = ArraySource(images, digits.target)
    # A fixed 60/20/20 split (seed 0, not --seed), so every run of the demo sees the same
    # test images.
    rest, test = _stratified_split(source.labels, _held_out(0.2, len(source)), 0)
    train, val = _stratified_split(source.labels[rest], _held_out(0.25, len(rest)), 0)
    return Loaded(
        train=Split(source, rest[train]),
        val=Split(source, rest[val]),
        test=Split(source, test),
        label_names=[str(i) for i in range(10)],
        origin="scikit-learn (bundled)",
    )


def _load_mnist_like(name: str, data_dir: str | None, keras_loader: str, url: str, files: str):
    found = _find_local(name, data_dir)
    if found:
        directory, group = found
        if group[0].endswith(".npz"):
            with np.load(directory / group[0]) as f:
                return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"]), str(directory)
        train, test = (
            (read_idx(directory / f"{part}-images-idx3-ubyte.gz"),
             read_idx(directory / f"{part}-labels-idx1-ubyte.gz"))
            for part in ("train", "t10k")
        )
        return train, test, str(directory)
    try:
        keras = load_keras()  # quietly: TensorFlow's start-up logs stay off the terminal

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, keras_loader).load_data()
    except Exception as exc:  # offline, or a broken cache
        _download_failed(name, url, files, exc, data_dir)
    return (x_train, y_train), (x_test, y_test), "keras.datasets (downloaded)"


def _load_mnist(options: LoadOptions) -> Loaded:
    train, test, origin = _load_mnist_like(
        "mnist", options.data_dir, "mnist",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        "mnist.npz or the four idx .gz files")
    return _arrays(train, test, None, origin)


def _load_fashion_mnist(options: LoadOptions) -> Loaded:
    train, test, origin = _load_mnist_like(
        "fashion_mnist", options.data_dir, "fashion_mnist",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "the four idx .gz files (Debian: apt-get install dataset-fashion-mnist)")
    return _arrays(train, test, FASHION_LABELS, origin)


def _load_cifar(name: str, data_dir: str | None, hundred: bool) -> Loaded:
    found = _find_local(name, data_dir)
    tarball = "cifar-100-python.tar.gz" if hundred else "cifar-10-python.tar.gz"
    if found:
        directory, group = found
        train, test, names = read_cifar(directory / group[0], hundred=hundred)
        return _arrays(train, test, names, str(directory / group[0]))
    try:
        keras = load_keras()  # quietly: TensorFlow's start-up logs stay off the terminal

        loader = keras.datasets.cifar100 if hundred else keras.datasets.cifar10
        train, test = loader.load_data()
    except Exception as exc:
        _download_failed(name, f"https://www.cs.toronto.edu/~kriz/{tarball}",
                         f"{tarball} (or its extracted folder)", exc, data_dir)
    return _arrays(train, test, None, "keras.datasets (downloaded)")


def _load_cifar10(options: LoadOptions) -> Loaded:
    loaded = _load_cifar("cifar10", options.data_dir, hundred=False)
    loaded.label_names = loaded.label_names or CIFAR10_LABELS
    return loaded


def _load_cifar100(options: LoadOptions) -> Loaded:
    return _load_cifar("cifar100", options.data_dir, hundred=True)


# ---------------------------------------------------------------------------------------------
# loaders of the prefix datasets: folder:PATH and hdf5:PATH


def _is_hidden(path: Path) -> bool:
    # .DS_Store, and macOS's "._photo.jpg" resource forks that only look like images
    return path.name.startswith(".")


def _not_an_image(path: Path) -> str:
    return f"not an image file name ({path.suffix or 'no suffix'})"


def _list_class_folder(folder: Path) -> tuple[list[str], dict[str, str]]:
    """The image files under `folder` (sub-folders included) in sorted order, and
    `{path: reason}` of every other file. Hidden files are neither."""
    from imutils.paths import list_files

    # imutils judges a file by its lower-cased suffix, so `.JPG` is an image too.
    images = sorted(Path(p) for p in list_files(str(folder), validExts=IMAGE_SUFFIXES))
    found = set(images)
    others = sorted(Path(p) for p in list_files(str(folder)))
    skipped = {str(p): _not_an_image(p) for p in others if p not in found and not _is_hidden(p)}
    return [str(p) for p in images if not _is_hidden(p)], skipped


def _class_folders(root: Path) -> tuple[list[str], list[str], list[int], dict[str, str]]:
    """(class names, image paths, labels, skipped files) of a folder with one sub-folder per
    class. Files beside the class folders are skipped too."""
    entries = sorted(p for p in root.iterdir() if not _is_hidden(p))
    classes = [p.name for p in entries if p.is_dir()]
    skipped = {str(p): "not inside a class folder" for p in entries if p.is_file()}
    paths, labels = [], []
    for label, name in enumerate(classes):
        images, others = _list_class_folder(root / name)
        paths += images
        labels += [label] * len(images)
        skipped.update(others)
    return classes, paths, labels, skipped


def _probe_size(name: str, paths: list[str], tries: int = 50) -> tuple[int, int]:
    """The size of the first readable image: folders train at that size unless --image-size."""
    from zoo.data.images import UnreadableImage, read_image

    for path in paths[:tries]:
        try:
            return read_image(path, channels=3).shape[:2]
        except UnreadableImage:
            continue
    raise ZooError(f"{name}: no readable image among the first {min(tries, len(paths))} files; "
                   "pass --image-size H,W")


def _load_folder(path: str, options: LoadOptions) -> Loaded:
    name = f"folder:{path}"
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ZooError(f"{name}: no such directory")
    split_dirs = {s: root / s for s in ("train", "val", "test") if (root / s).is_dir()}
    if "train" in split_dirs:
        classes, paths, labels, skipped = _class_folders(split_dirs["train"])
        parts = {"train": (paths, labels)}
        for s in ("val", "test"):
            if s in split_dirs:
                names, p, lab, sk = _class_folders(split_dirs[s])
                unknown = sorted(set(names) - set(classes))
                if unknown:
                    raise ZooError(f"{name}: {s}/ has classes that train/ lacks: "
                                   f"{', '.join(unknown)}")
                remap = [classes.index(n) for n in names]
                parts[s] = (p, [remap[x] for x in lab])
                skipped.update(sk)
    else:
        classes, paths, labels, skipped = _class_folders(root)
        parts = {"train": (paths, labels)}
    if len(classes) < 2:
        raise ZooError(f"{name}: expected one sub-folder per class (at least two)")
    if not parts["train"][0]:
        raise ZooError(f"{name}: no image files found")

    size = options.image_size or _probe_size(name, parts["train"][0])
    all_paths, all_labels, ranges = [], [], {}
    for s, (p, lab) in parts.items():
        ranges[s] = np.arange(len(all_paths), len(all_paths) + len(p))
        all_paths += p
        all_labels += lab
    source = FileSource(all_paths, all_labels, size, options.channels)
    return Loaded(
        train=Split(source, ranges["train"]),
        val=Split(source, ranges["val"]) if "val" in ranges else None,
        test=Split(source, ranges["test"]) if "test" in ranges else None,
        label_names=classes,
        origin=str(root),
        skipped=skipped,
    )


def _load_hdf5(path: str, options: LoadOptions) -> Loaded:
    file = Path(path).expanduser()
    if not file.is_file():
        raise ZooError(f"hdf5:{path}: no such file")
    names = check_hdf5(file)
    source = HDF5Source(file)
    split = read_hdf5_split(file)
    if split is None:
        return Loaded(Split(source, np.arange(len(source))), None, None, names, str(file))
    parts = {s: np.flatnonzero(split == code) for code, s in enumerate(("train", "val", "test"))}
    if not len(parts["train"]):
        raise ZooError(f"hdf5:{path}: its split dataset marks no image as train")
    return Loaded(
        train=Split(source, parts["train"]),
        val=Split(source, parts["val"]) if len(parts["val"]) else None,
        test=Split(source, parts["test"]) if len(parts["test"]) else None,
        label_names=names,
        origin=str(file),
    )


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


def _select_classes(name: str, loaded: Loaded, classes: str) -> Loaded:
    """`loaded` restricted to the classes `classes` names, renumbered in that order."""
    names = loaded.label_names or _default_names(loaded.train.source.labels)
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


def _per_class(name: str, split: Split, count: int | None, seed: int) -> Split:
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


def _held_out(fraction: float, count: int) -> int:
    # rounded up, as scikit-learn's train_test_split rounds a fractional test_size
    return math.ceil(fraction * count) if fraction > 0 else 0


def _stratified_split(labels: np.ndarray, held_out: int, seed: int):
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


def _hold_out_val(name: str, kind: str, train: Split, fraction: float, seed: int):
    """`(train, val)`: `fraction` of `train` held out for validation, stratified by `seed`."""
    count = len(train)
    held_out = _held_out(fraction, count)
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
    kept, held = _stratified_split(train.labels, held_out, seed)
    return Split(train.source, train.indices[kept]), Split(train.source, train.indices[held])


def _limit(name: str, split: Split, limit: int | None, seed: int) -> Split:
    """At most `limit` images of `split`: a stratified sample chosen by `seed`."""
    if limit is None or len(split) <= limit:
        return split
    classes = len(np.unique(split.labels))
    if limit < classes:
        raise ZooError(f"{name}: --limit {limit} is fewer than the {classes} classes; "
                       f"use --limit {classes} or more")
    kept, _ = _stratified_split(split.labels, len(split) - limit, seed)
    return Split(split.source, split.indices[kept])


def _s(count: int) -> str:
    return "" if count == 1 else "s"


# ---------------------------------------------------------------------------------------------
# the registry
#
# Augmentation presets are Keras ImageDataGenerator's meaning: rotation in degrees, shifts and
# zoom as fractions of the size. No flips for digits: a mirrored 2 is not a 2.

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("digits", _load_digits,
                    augmentation=dict(rotation=10, shift=0.1, zoom=0.1, flip=False),
                    classes=10, shape=(8, 8, 1), sizes="1077/360/360",
                    origin="scikit-learn (bundled)", files="none needed"),
        DatasetSpec("mnist", _load_mnist,
                    augmentation=dict(rotation=10, shift=0.1, zoom=0.1, flip=False),
                    classes=10, shape=(28, 28, 1), sizes="60000/10000",
                    origin="keras.datasets.mnist", files="mnist.npz or the idx .gz files"),
        DatasetSpec("fashion_mnist", _load_fashion_mnist,
                    augmentation=dict(rotation=0, shift=0.1, zoom=0.05, flip=True),
                    classes=10, shape=(28, 28, 1), sizes="60000/10000",
                    origin=f"{DEBIAN_FASHION_MNIST} or keras.datasets.fashion_mnist",
                    files="the idx .gz files"),
        # He et al. 2016: 4-pixel shifts of 32x32 images and horizontal flips.
        DatasetSpec("cifar10", _load_cifar10,
                    augmentation=dict(rotation=0, shift=0.125, zoom=0.0, flip=True),
                    classes=10, shape=(32, 32, 3), sizes="50000/10000",
                    origin="keras.datasets.cifar10",
                    files="cifar-10-python.tar.gz or cifar-10-batches-py/"),
        DatasetSpec("cifar100", _load_cifar100,
                    augmentation=dict(rotation=0, shift=0.125, zoom=0.0, flip=True),
                    classes=100, shape=(32, 32, 3), sizes="50000/10000",
                    origin="keras.datasets.cifar100",
                    files="cifar-100-python.tar.gz or cifar-100-python/"),
    )
}

# Datasets named `PREFIX:PATH`, beside the named ones.
PREFIX_DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        # Photographs: Rosebrock's animals/flowers recipe.
        DatasetSpec("folder", _load_folder,
                    augmentation=dict(rotation=30, shift=0.1, zoom=0.2, flip=True),
                    origin="one sub-folder per class, or train/, val/, test/ of them"),
        DatasetSpec("hdf5", _load_hdf5,
                    augmentation=dict(rotation=15, shift=0.1, zoom=0.1, flip=True),
                    origin="an HDF5 file of images, labels and label_names"),
    )
}


def _find_spec(name: str) -> tuple[DatasetSpec, str | None]:
    """The spec of dataset `name`, and the path of a `PREFIX:PATH` name (else None)."""
    prefix, colon, path = name.partition(":")
    if colon:
        if prefix in PREFIX_DATASETS:
            if not path:
                raise ZooError(f"dataset '{name}' names no path; give {prefix}:PATH")
            return PREFIX_DATASETS[prefix], path
        close = difflib.get_close_matches(prefix, PREFIX_DATASETS, n=1)
        hint = f"; did you mean {close[0]}:{path}?" if close else ""
        raise ZooError(f"unknown dataset '{name}'{hint} (known: {', '.join(DATASETS)}, "
                       f"{', '.join(p + ':PATH' for p in PREFIX_DATASETS)})")
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        close = difflib.get_close_matches(key, [*DATASETS, *PREFIX_DATASETS], n=2)
        close = [c if c in DATASETS else f"{c}:PATH" for c in close]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ZooError(f"unknown dataset '{name}'{hint} (known: {', '.join(DATASETS)}, "
                       f"{', '.join(p + ':PATH' for p in PREFIX_DATASETS)})")
    return DATASETS[key], None


def load_dataset(name: str, *, seed: int, val_split: float, limit: int | None = None,
                 data_dir: str | None = None, image_size: tuple[int, int] | None = None,
                 channels: int = 3, classes: str | None = None,
                 per_class: int | None = None) -> Splits:
    """Load a dataset as train, validation and test splits.

    Args:
        name: a registry key (`"digits"`, `"cifar10"`, ...), `"folder:PATH"` or
            `"hdf5:PATH"`.
        seed: seeds the validation hold-out and the `limit` sample.
        val_split: the fraction of train held out for validation when the dataset has no
            validation split of its own (`0` for none).
        limit: use at most this many images of each split, a stratified sample. Defaults to
            `None` (all).
        data_dir: a directory holding the dataset's files. Defaults to `None` (Keras' cache,
            then a download).
        image_size: `(height, width)` folder images are decoded to. Defaults to `None` (the
            size of the first readable image). Other datasets keep their own size.
        channels: channels folder images are decoded to, `3` or `1`. Defaults to `3`.
        classes: use only these classes, `"cat,dog"` (names) or `"3,5"` (indices), selected
            before the validation hold-out and `limit`; labels are renumbered `0..k-1` in the
            order given. Defaults to `None` (every class).
        per_class: keep at most this many training images of each class (after the
            validation hold-out), a sample chosen by `seed`; validation and test are
            untouched. Defaults to `None` (all).

    Returns:
        `Splits`, with the dataset's augmentation preset and the files a folder skipped.

    Raises:
        ZooError: an unknown dataset, missing or malformed files, or a split too small for
            its classes (the message names the setting to change).
    """
    spec, path = _find_spec(name)
    options = LoadOptions(seed=seed, val_split=val_split, limit=limit, data_dir=data_dir,
                          image_size=tuple(image_size) if image_size else None,
                          channels=channels)
    loaded = spec.loader(options) if path is None else spec.loader(path, options)
    full_name = spec.name if path is None else name
    if classes:
        loaded = _select_classes(full_name, loaded, classes)
    train, val = loaded.train, loaded.val
    if val is None:
        train, val = _hold_out_val(full_name, spec.name, train, val_split, seed)
    train = _per_class(full_name, train, per_class, seed)

    def limited(split: Split | None) -> Split | None:
        if split is None or not len(split):
            return None
        return _limit(full_name, split, limit, seed)

    return Splits(
        name=full_name,
        kind=spec.name,
        train=_limit(full_name, train, limit, seed),
        val=limited(val),
        test=limited(loaded.test),
        label_names=loaded.label_names or _default_names(train.source.labels),
        image_shape=train.source.image_shape,
        origin=loaded.origin,
        augmentation=dict(spec.augmentation),
        skipped=loaded.skipped,
    )


def _default_names(labels: np.ndarray) -> list[str]:
    return [str(i) for i in range(int(labels.max()) + 1)]
