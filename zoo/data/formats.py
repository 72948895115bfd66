"""Readers of the on-disk formats datasets ship in: IDX (MNIST, Fashion-MNIST), the CIFAR
pickles (a tarball or its extracted folder), and the checks an HDF5 file passes before
`zoo.data.sources.HDF5Source` reads it.

Each reader raises `ZooError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
import pickle
import tarfile
from pathlib import Path

import numpy as np

from zoo.data.splits import SPLIT_NAMES
from zoo.errors import ZooError, from_os_error

ArrayPair = tuple[np.ndarray, np.ndarray]


def as_text(values) -> list[str]:
    """Strings stored as bytes (pickles, HDF5) or as str, as a list of str."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (MNIST's format), gzipped or not.

    Args:
        path: the `.gz` or uncompressed IDX file.

    Returns:
        A `uint8` array of the shape the file declares.

    Raises:
        ZooError: the file is not an IDX file of unsigned bytes, or is truncated.
    """
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


def _read_cifar_batch(raw: bytes, label_key: bytes) -> ArrayPair:
    batch = pickle.loads(raw, encoding="bytes")
    data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data.transpose(0, 2, 3, 1), np.asarray(batch[label_key], dtype=np.int64)


def read_cifar(path: Path, hundred: bool = False) -> tuple[ArrayPair, ArrayPair, list[str] | None]:
    """Read CIFAR-10 or CIFAR-100 (fine labels) as Toronto ships it.

    Args:
        path: `cifar-10-python.tar.gz` / `cifar-100-python.tar.gz`, or the extracted
            `cifar-10-batches-py/` / `cifar-100-python/` folder.
        hundred: read CIFAR-100 rather than CIFAR-10. Defaults to `False`.

    Returns:
        `(x_train, y_train), (x_test, y_test), label_names`: `uint8` images `N x 32 x 32 x 3`,
        `int64` labels, and the class names of the meta file (`None` without one).

    Raises:
        ZooError: a batch file is missing.
    """
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

            def read(name: str) -> bytes:
                if name not in members:
                    raise ZooError(f"{path}: no {name} inside")
                return tar.extractfile(members[name]).read()

            parts = {n: read(n) for n in [*train_names, *test_names]}
            meta_raw = read(meta) if meta in members else None
    else:

        def read(name: str) -> bytes:
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
        names = as_text(meta_dict[names_key])
    return (x_train, y_train), (x_test, y_test), names


def check_hdf5(path: Path) -> list[str] | None:
    """Check that `path` is an HDF5 file a dataset can be read from, and read its class names.

    The file holds `images` (`N x H x W` or `N x H x W x C`, uint8) and `labels` (`N`
    integers), as `zoo build-hdf5` writes it, and optionally `label_names` (strings) and
    `split` (see `read_hdf5_split`).

    Args:
        path: the HDF5 file.

    Returns:
        The class names stored in `label_names`, or `None` when the file has none.

    Raises:
        ZooError: not an HDF5 file, `images` or `labels` missing or empty, or the lengths of
            `images`, `labels` and `split` differ.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("images", "labels") if k not in f]
            if missing:
                raise ZooError(f"{path}: missing dataset(s) {', '.join(missing)}")
            n_images, n_labels = len(f["images"]), len(f["labels"])
            if n_images == 0:
                raise ZooError(f"{path}: no images")
            if n_images != n_labels:
                raise ZooError(f"{path}: {n_images} images but {n_labels} labels")
            if "split" in f and len(f["split"]) != n_images:
                raise ZooError(f"{path}: {n_images} images but {len(f['split'])} split marks")
            if "label_names" not in f:
                return None
            return as_text(f["label_names"][:])
    except OSError as exc:
        if exc.errno is not None:  # the file system's refusal (permission denied), not HDF5's
            raise from_os_error(exc, "read", path) from None
        raise ZooError(f"{path}: not an HDF5 file") from None


def read_hdf5_split(path: Path) -> np.ndarray | None:
    """The `split` dataset of an HDF5 file, as codes `0` train, `1` val, `2` test.

    `zoo build-hdf5` stores the codes; names (`"train"`, `"val"`, `"test"`, bytes or str) are
    read too.

    Args:
        path: the HDF5 file (already checked by `check_hdf5`).

    Returns:
        An `int64` array of one code per image, or `None` when the file has no `split`.

    Raises:
        ZooError: a value that names no split.
    """
    import h5py

    with h5py.File(path, "r") as f:
        if "split" not in f:
            return None
        raw = f["split"][:]
    if raw.dtype.kind in "iu":
        codes = raw.astype(np.int64)
        bad = sorted(set(np.unique(codes).tolist()) - {0, 1, 2})
        if bad:
            raise ZooError(f"{path}: split values must be 0 (train), 1 (val) or 2 (test); "
                           f"found {bad[0]}")
        return codes
    names = as_text(raw)
    unknown = sorted(set(names) - set(SPLIT_NAMES))
    if unknown:
        raise ZooError(f"{path}: split values must be train, val or test; found '{unknown[0]}'")
    return np.array([SPLIT_NAMES.index(n) for n in names], dtype=np.int64)
