"""The dataset registry: `digits`, `mnist`, `fashion_mnist`, `cifar10`, `cifar100`,
`folder:PATH` and `hdf5:PATH`.

Every loader returns a `Splits`: train, validation (held out from train, stratified, when the
dataset has none) and test, each a `Split` (a source and the indices it uses), plus the
class names. Loaders accept files the user already has (`--data-dir`); a download that fails
is one line saying what was tried and where to put the file.
"""

from __future__ import annotations

import gzip
import pickle
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.backend import keras_home
from zoo.data.sources import IMAGE_SUFFIXES, ArraySource, FileSource, HDF5Source
from zoo.errors import ZooError, ZooRuntimeError

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
    name: str
    kind: str  # the registry key: digits, mnist, ..., folder, hdf5
    train: Split
    val: Split | None
    test: Split | None
    label_names: list[str]
    image_shape: tuple[int, int, int]
    origin: str
    notes: list[str] = field(default_factory=list)

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
class DatasetSpec:
    name: str
    loader: Callable
    classes: int | None
    shape: tuple | None
    sizes: str
    origin: str
    files: str

    def locate(self, data_dir: str | None = None) -> Path | None:
        """Where this dataset's files are on this machine, or None (a download is needed)."""
        found = _find_local(self.name, data_dir)
        return found[0] if found else None


# ---------------------------------------------------------------------------------------------
# file formats


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx file (MNIST's format), gzipped or not."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ZooError(f"{path}: not an idx file of unsigned bytes")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if array.size != int(np.prod(shape)):
        raise ZooError(f"{path}: truncated idx file ({array.size} of {np.prod(shape)} values)")
    return array.reshape(shape)


def _read_cifar_batch(raw: bytes, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    batch = pickle.loads(raw, encoding="bytes")
    data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data.transpose(0, 2, 3, 1), np.asarray(batch[label_key], dtype=np.int64)


def read_cifar(path: Path, coarse: bool = False, hundred: bool = False):
    """Read CIFAR-10/100 from `cifar-10-python.tar.gz` or the extracted `*-batches-py/` folder."""
    if hundred:
        train_names, test_names, meta = ["train"], ["test"], "meta"
        label_key, names_key = b"fine_labels", b"fine_label_names"
    else:
        train_names = [f"data_batch_{i}" for i in range(1, 6)]
        test_names, meta = ["test_batch"], "batches.meta"
        label_key, names_key = b"labels", b"label_names"

    if path.is_file():
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

            def read(name):
                if name not in members:
                    raise ZooError(f"{path}: no {name} inside")
                return tar.extractfile(members[name]).read()

            parts = {n: read(n) for n in [*train_names, *test_names]}
            meta_raw = read(meta) if meta in members else None
    else:
        def read(name):
            file = path / name
            if not file.is_file():
                raise ZooError(f"{path}: no {name} inside")
            return file.read_bytes()

        parts = {n: read(n) for n in [*train_names, *test_names]}
        meta_raw = (path / meta).read_bytes() if (path / meta).is_file() else None

    train = [_read_cifar_batch(parts[n], label_key) for n in train_names]
    test = [_read_cifar_batch(parts[n], label_key) for n in test_names]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_test = np.concatenate([x for x, _ in test])
    y_test = np.concatenate([y for _, y in test])
    names = None
    if meta_raw is not None:
        meta_dict = pickle.loads(meta_raw, encoding="bytes")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta_dict[names_key]]
    return (x_train, y_train), (x_test, y_test), names


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
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    where = f"--data-dir {data_dir}" if data_dir else f"{KERAS_CACHE}/ or pass --data-dir DIR"
    raise ZooRuntimeError(
        f"{name}: no local files and the download of {url} failed ({reason}); "
        f"put {files} in {where}"
    )


# ---------------------------------------------------------------------------------------------
# loaders: each returns (x_train, y_train), (x_test, y_test) or (.., val ..), label names


def _load_digits(data_dir):
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 0-16 gray levels -> 0-255 uint8, so every dataset reaches the pipeline in one format.
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)
    return images, digits.target, [str(i) for i in range(10)], "scikit-learn (bundled)"


def _load_idx_dir(directory: Path):
    x_train = read_idx(directory / "train-images-idx3-ubyte.gz")
    y_train = read_idx(directory / "train-labels-idx1-ubyte.gz")
    x_test = read_idx(directory / "t10k-images-idx3-ubyte.gz")
    y_test = read_idx(directory / "t10k-labels-idx1-ubyte.gz")
    return (x_train, y_train), (x_test, y_test)


def _load_mnist_like(name: str, data_dir, keras_loader: str, url: str, files: str):
    found = _find_local(name, data_dir)
    if found:
        directory, group = found
        if group[0].endswith(".npz"):
            with np.load(directory / group[0]) as f:
                return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"]), str(directory)
        return (*_load_idx_dir(directory), str(directory))
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, keras_loader).load_data()
    except Exception as exc:  # offline, or a broken cache
        _download_failed(name, url, files, exc, data_dir)
    return (x_train, y_train), (x_test, y_test), "keras.datasets (downloaded)"


def _load_cifar(name: str, data_dir, hundred: bool):
    found = _find_local(name, data_dir)
    tarball = "cifar-100-python.tar.gz" if hundred else "cifar-10-python.tar.gz"
    if found:
        directory, group = found
        (x_train, y_train), (x_test, y_test), names = read_cifar(directory / group[0],
                                                                 hundred=hundred)
        return (x_train, y_train), (x_test, y_test), names, str(directory / group[0])
    try:
        import keras

        loader = keras.datasets.cifar100 if hundred else keras.datasets.cifar10
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as exc:
        _download_failed(name, f"https://www.cs.toronto.edu/~kriz/{tarball}",
                         f"{tarball} (or its extracted folder)", exc, data_dir)
    return ((x_train, y_train.ravel()), (x_test, y_test.ravel()), None,
            "keras.datasets (downloaded)")


def _stratified_split(labels: np.ndarray, fraction: float, seed: int):
    """Indices (keep, held_out) with `fraction` of each class held out."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    if fraction <= 0:
        return indices, np.array([], dtype=np.int64)
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    keep, held = train_test_split(indices, test_size=fraction, random_state=seed,
                                  stratify=stratify)
    return np.sort(keep), np.sort(held)


def _split(source, indices: np.ndarray, config) -> Split:
    """`Split` of `source` over `indices`, cut to `config["limit"]` images by a seeded
    stratified sample when that is set."""
    limit, seed = config.get("limit"), config.get("seed", 42)
    if limit is not None and len(indices) > limit:
        keep, _ = _stratified_split(source.labels[indices], 1 - limit / len(indices), seed)
        indices = indices[keep[:limit]]
    return Split(source, indices)


def _default_names(labels: np.ndarray) -> list[str]:
    return [str(i) for i in range(int(labels.max()) + 1)]


def _array_splits(name, kind, train, test, label_names, origin, config) -> Splits:
    (x_train, y_train) = train
    source_train = ArraySource(np.asarray(x_train), np.asarray(y_train).ravel())
    keep, held = _stratified_split(source_train.labels, config.get("val_split", 0.1),
                                   config.get("seed", 42))
    test_split = None
    if test is not None:
        source_test = ArraySource(np.asarray(test[0]), np.asarray(test[1]).ravel())
        test_split = _split(source_test, np.arange(len(source_test)), config)
    return Splits(
        name=name,
        kind=kind,
        train=_split(source_train, keep, config),
        val=_split(source_train, held, config) if len(held) else None,
        test=test_split,
        label_names=label_names or _default_names(source_train.labels),
        image_shape=source_train.image_shape,
        origin=origin,
    )


def load_digits_splits(config) -> Splits:
    images, labels, names, origin = _load_digits(config.get("data_dir"))
    # A fixed 60/20/20 split, so every run of the demo sees the same test images.
    rest, test = _stratified_split(labels, 0.2, 0)
    source = ArraySource(images, labels)
    train_rel, val_rel = _stratified_split(labels[rest], 0.25, 0)
    return Splits("digits", "digits", _split(source, rest[train_rel], config),
                  _split(source, rest[val_rel], config), _split(source, test, config),
                  names, source.image_shape, origin)


def load_mnist(config) -> Splits:
    train, test, origin = _load_mnist_like(
        "mnist", config.get("data_dir"), "mnist",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        "mnist.npz or the four idx .gz files")
    return _array_splits("mnist", "mnist", train, test, None, origin, config)


def load_fashion_mnist(config) -> Splits:
    train, test, origin = _load_mnist_like(
        "fashion_mnist", config.get("data_dir"), "fashion_mnist",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "the four idx .gz files (Debian: apt-get install dataset-fashion-mnist)")
    return _array_splits("fashion_mnist", "fashion_mnist", train, test, FASHION_LABELS, origin,
                         config)


def load_cifar10(config) -> Splits:
    train, test, names, origin = _load_cifar("cifar10", config.get("data_dir"), hundred=False)
    return _array_splits("cifar10", "cifar10", train, test, names or CIFAR10_LABELS, origin,
                         config)


def load_cifar100(config) -> Splits:
    train, test, names, origin = _load_cifar("cifar100", config.get("data_dir"), hundred=True)
    return _array_splits("cifar100", "cifar100", train, test, names, origin, config)


def _class_folders(root: Path) -> tuple[list[str], list[str], list[int], list[str]]:
    """(class names, paths, labels, skipped) of a folder with one sub-folder per class."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    paths, labels, skipped = [], [], []
    for label, cls in enumerate(classes):
        for file in sorted((root / cls).rglob("*")):
            if not file.is_file() or file.name.startswith("."):
                continue
            if file.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(str(file))
                labels.append(label)
            else:
                skipped.append(str(file))
    return classes, paths, labels, skipped


def load_folder(path: str, config, image_size=None, channels: int = 3) -> Splits:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ZooError(f"folder:{path}: no such directory")
    split_dirs = {s: root / s for s in ("train", "val", "test") if (root / s).is_dir()}
    if "train" in split_dirs:
        classes, paths, labels, skipped = _class_folders(split_dirs["train"])
        parts = {"train": (paths, labels)}
        for s in ("val", "test"):
            if s in split_dirs:
                names, p, lab, sk = _class_folders(split_dirs[s])
                unknown = sorted(set(names) - set(classes))
                if unknown:
                    raise ZooError(f"folder:{path}: {s}/ has classes that train/ lacks: "
                                   f"{', '.join(unknown)}")
                remap = [classes.index(n) for n in names]
                parts[s] = (p, [remap[x] for x in lab])
                skipped += sk
    else:
        classes, paths, labels, skipped = _class_folders(root)
        parts = {"train": (paths, labels)}
    if len(classes) < 2:
        raise ZooError(f"folder:{path}: expected one sub-folder per class (at least two)")
    if not parts["train"][0]:
        raise ZooError(f"folder:{path}: no image files found")

    size = tuple(image_size) if image_size else _probe_size(parts["train"][0])
    all_paths, all_labels, ranges = [], [], {}
    for s, (p, lab) in parts.items():
        ranges[s] = np.arange(len(all_paths), len(all_paths) + len(p))
        all_paths += p
        all_labels += lab
    source = FileSource(all_paths, all_labels, size, channels)
    train_idx = ranges["train"]
    val_idx = ranges.get("val")
    if val_idx is None:
        keep, held = _stratified_split(source.labels[train_idx], config.get("val_split", 0.1),
                                       config.get("seed", 42))
        train_idx, val_idx = train_idx[keep], train_idx[held]
    test_idx = ranges.get("test")
    notes = []
    if skipped:
        shown = ", ".join(Path(s).name for s in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        notes.append(f"skipped {len(skipped)} files that are not images: {shown}{more}")
    return Splits(
        name=f"folder:{path}",
        kind="folder",
        train=_split(source, train_idx, config),
        val=_split(source, val_idx, config) if len(val_idx) else None,
        test=_split(source, test_idx, config) if test_idx is not None and len(test_idx) else None,
        label_names=classes,
        image_shape=source.image_shape,
        origin=str(root),
        notes=notes,
    )


def _probe_size(paths: list[str]) -> tuple[int, int]:
    """The size of the first readable image: folders train at that size unless --image-size."""
    from zoo.data.sources import decode_image

    for path in paths[:50]:
        image = decode_image(path, 3)
        if image is not None:
            return image.shape[:2]
    raise ZooError("no readable image among the first 50 files; pass --image-size H,W")


def load_hdf5(path: str, config) -> Splits:
    import h5py

    file = Path(path).expanduser()
    if not file.is_file():
        raise ZooError(f"hdf5:{path}: no such file")
    try:
        with h5py.File(file, "r") as f:
            missing = [k for k in ("images", "labels") if k not in f]
            names = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in f["label_names"][:]] if "label_names" in f else None
    except OSError:
        raise ZooError(f"hdf5:{path}: not an HDF5 file") from None
    if missing:
        raise ZooError(f"hdf5:{path}: missing dataset(s) {', '.join(missing)}")
    source = HDF5Source(file)
    keep, held = _stratified_split(source.labels, config.get("val_split", 0.1),
                                   config.get("seed", 42))
    return Splits(
        name=f"hdf5:{path}",
        kind="hdf5",
        train=_split(source, keep, config),
        val=_split(source, held, config) if len(held) else None,
        test=None,
        label_names=names or _default_names(source.labels),
        image_shape=source.image_shape,
        origin=str(file),
    )


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("digits", load_digits_splits, 10, (8, 8, 1), "1077/360/360",
                    "scikit-learn (bundled)", "none needed"),
        DatasetSpec("mnist", load_mnist, 10, (28, 28, 1), "60000/10000",
                    "keras.datasets.mnist", "mnist.npz or the idx .gz files"),
        DatasetSpec("fashion_mnist", load_fashion_mnist, 10, (28, 28, 1), "60000/10000",
                    f"{DEBIAN_FASHION_MNIST} or keras.datasets.fashion_mnist",
                    "the idx .gz files"),
        DatasetSpec("cifar10", load_cifar10, 10, (32, 32, 3), "50000/10000",
                    "keras.datasets.cifar10", "cifar-10-python.tar.gz or cifar-10-batches-py/"),
        DatasetSpec("cifar100", load_cifar100, 100, (32, 32, 3), "50000/10000",
                    "keras.datasets.cifar100",
                    "cifar-100-python.tar.gz or cifar-100-python/"),
    )
}


def load_dataset(name: str, config: dict, image_size=None, channels: int = 3) -> Splits:
    """Load dataset `name` (a registry key, `folder:PATH` or `hdf5:PATH`) as `Splits`."""
    if name.startswith("folder:"):
        return load_folder(name.split(":", 1)[1], config, image_size, channels)
    if name.startswith("hdf5:"):
        return load_hdf5(name.split(":", 1)[1], config)
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        import difflib

        close = difflib.get_close_matches(key, DATASETS, n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ZooError(f"unknown dataset '{name}'{hint} (known: {', '.join(DATASETS)}, "
                       "folder:PATH, hdf5:PATH)")
    return DATASETS[key].loader(config)
