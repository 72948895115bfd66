"""The built-in datasets: `digits`, `mnist`, `fashion_mnist`, `cifar10` and `cifar100`.

Each loader reads files the user already has first (`--data-dir`, then Debian's and Keras'
caches), in their own formats (`zoo.data.formats`), and only then asks `keras.datasets` for a
download; a download that fails is one line saying what was tried and where to put the file.
`find_local` answers where a dataset's files are, for `zoo datasets` as for the loaders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.backend import keras_home, load_keras
from zoo.data.formats import read_cifar, read_idx
from zoo.data.sources import ArraySource
from zoo.data.splits import Loaded, LoadOptions, Split, held_out_count, stratified_split
from zoo.errors import ZooRuntimeError, first_line

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE = keras_home() / "datasets"

FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                  "Sneaker", "Bag", "Ankle boot"]
CIFAR10_LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                  "ship", "truck"]

_IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# The groups of files that make each dataset present in a directory, in the order tried.
_LOCAL_FILES = {
    "mnist": [_IDX_FILES, ("mnist.npz",)],
    "fashion_mnist": [_IDX_FILES],
    "cifar10": [("cifar-10-batches-py",), ("cifar-10-python.tar.gz",)],
    "cifar100": [("cifar-100-python",), ("cifar-100-python.tar.gz",)],
}


# ---------------------------------------------------------------------------------------------
# finding local files


def _candidate_dirs(name: str, data_dir: str | None) -> list[Path]:
    dirs = []
    if data_dir:
        dirs += [Path(data_dir), Path(data_dir) / name]
    if name == "fashion_mnist":
        dirs += [DEBIAN_FASHION_MNIST, KERAS_CACHE / "fashion-mnist"]
    dirs += [KERAS_CACHE, KERAS_CACHE / name]
    return dirs


def find_local(name: str, data_dir: str | None) -> tuple[Path, tuple[str, ...]] | None:
    """`(directory, files)` where dataset `name`'s files are on this machine, or None (a
    download is needed). `digits` is bundled with scikit-learn: `(Path("sklearn"), ())`."""
    if name == "digits":
        return Path("sklearn"), ()
    for directory in _candidate_dirs(name, data_dir):
        for group in _LOCAL_FILES.get(name, []):
            if all((directory / f).exists() for f in group):
                return directory, group
    return None


def _download(name: str, url: str, files: str, data_dir: str | None):
    """`keras.datasets.NAME.load_data()`, or one line saying what was tried and where to put
    `files` instead."""
    try:
        keras = load_keras()  # quietly: TensorFlow's start-up logs stay off the terminal

        return getattr(keras.datasets, name).load_data()
    except Exception as exc:  # offline, or a broken cache
        reason = first_line(exc, limit=None)
        where = f"--data-dir {data_dir}" if data_dir else f"{KERAS_CACHE}/ or pass --data-dir DIR"
        raise ZooRuntimeError(
            f"{name}: no local files and the download of {url} failed ({reason}); "
            f"put {files} in {where}"
        ) from exc


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


# ---------------------------------------------------------------------------------------------
# the loaders


def load_digits(options: LoadOptions) -> Loaded:
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    # 0-16 gray levels -> 0-255 uint8, so every dataset reaches the pipeline in one format.
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)
    source = ArraySource(images, digits.target)
    # A fixed 60/20/20 split (seed 0, not --seed), so every run of the demo sees the same
    # test images.
    rest, test = stratified_split(source.labels, held_out_count(0.2, len(source)), 0)
    train, val = stratified_split(source.labels[rest], held_out_count(0.25, len(rest)), 0)
    return Loaded(
        train=Split(source, rest[train]),
        val=Split(source, rest[val]),
        test=Split(source, test),
        label_names=[str(i) for i in range(10)],
        origin="scikit-learn (bundled)",
    )


def _load_mnist_like(name: str, options: LoadOptions, url: str, files: str,
                     label_names: list[str] | None) -> Loaded:
    """MNIST or Fashion-MNIST: a local `mnist.npz` or the four idx files, else a download."""
    found = find_local(name, options.data_dir)
    if not found:
        train, test = _download(name, url, files, options.data_dir)
        return _arrays(train, test, label_names, "keras.datasets (downloaded)")
    directory, group = found
    if group[0].endswith(".npz"):
        with np.load(directory / group[0]) as f:
            train, test = (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    else:
        train, test = (
            (read_idx(directory / f"{part}-images-idx3-ubyte.gz"),
             read_idx(directory / f"{part}-labels-idx1-ubyte.gz"))
            for part in ("train", "t10k")
        )
    return _arrays(train, test, label_names, str(directory))


def load_mnist(options: LoadOptions) -> Loaded:
    return _load_mnist_like(
        "mnist", options, "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        "mnist.npz or the four idx .gz files", None)


def load_fashion_mnist(options: LoadOptions) -> Loaded:
    return _load_mnist_like(
        "fashion_mnist", options, "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "the four idx .gz files (Debian: apt-get install dataset-fashion-mnist)", FASHION_LABELS)


def _load_cifar(name: str, options: LoadOptions, hundred: bool) -> Loaded:
    """CIFAR-10 or CIFAR-100: a local tarball or its extracted folder, else a download."""
    found = find_local(name, options.data_dir)
    if found:
        directory, group = found
        train, test, names = read_cifar(directory / group[0], hundred=hundred)
        return _arrays(train, test, names, str(directory / group[0]))
    tarball = "cifar-100-python.tar.gz" if hundred else "cifar-10-python.tar.gz"
    train, test = _download(name, f"https://www.cs.toronto.edu/~kriz/{tarball}",
                            f"{tarball} (or its extracted folder)", options.data_dir)
    return _arrays(train, test, None, "keras.datasets (downloaded)")


def load_cifar10(options: LoadOptions) -> Loaded:
    loaded = _load_cifar("cifar10", options, hundred=False)
    loaded.label_names = loaded.label_names or CIFAR10_LABELS
    return loaded


def load_cifar100(options: LoadOptions) -> Loaded:
    return _load_cifar("cifar100", options, hundred=True)
