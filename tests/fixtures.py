"""Tiny datasets in the real on-disk formats."""

import gzip
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

# Real files of the kinds photo folders hold, good and broken, in the workspace's shared/ beside
# the checkout (as CI lays it out); tests that need them skip where it is missing.
ODD_IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "odd-images"


def class_images(n_per_class: int, classes: int, size=(32, 32), channels=3, seed=0):
    """Images whose class is visible (a bright square at a class-dependent place)."""
    rng = np.random.default_rng(seed)
    h, w = size
    images, labels = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            im = rng.integers(0, 60, (h, w, channels), dtype=np.uint8)
            top = (c * h // classes) % (h - h // 4)
            im[top : top + h // 4, w // 4 : w // 2] = 200 + c * 5
            images.append(im)
            labels.append(c)
    return np.stack(images), np.array(labels)


def write_cifar10(root: Path, per_batch: int = 20, tarball: bool = False) -> Path:
    """cifar-10-batches-py/ (or cifar-10-python.tar.gz) with tiny batches, as Toronto ships it."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
             "test_batch"]
    for i, name in enumerate(names):
        x, y = class_images(per_batch // 10, 10, seed=i)
        data = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": y.tolist(), b"batch_label": name.encode()}, fh)
    meta = {b"label_names": [n.encode() for n in ["airplane", "automobile", "bird", "cat",
                                                   "deer", "dog", "frog", "horse", "ship",
                                                   "truck"]]}
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump(meta, fh)
    if tarball:
        path = root / "cifar-10-python.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            tar.add(folder, arcname="cifar-10-batches-py")
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
        return path
    return folder


def write_idx(root: Path, n_train=60, n_test=20, size=28) -> Path:
    """The four MNIST idx .gz files."""
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x, y = class_images(n // 10, 10, size=(size, size), channels=1)
        x = x[..., 0]
        with gzip.open(root / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
            fh.write(struct.pack(">BBBBIII", 0, 0, 8, 3, len(x), size, size) + x.tobytes())
        with gzip.open(root / f"{prefix}-labels-idx1-ubyte.gz", "wb") as fh:
            fh.write(struct.pack(">BBBBI", 0, 0, 8, 1, len(y)) + y.astype(np.uint8).tobytes())
    return root


def write_folder(root: Path, per_class=8, classes=("cats", "dogs", "pandas"), broken=True):
    """One sub-folder per class of JPEG and PNG files, plus three broken files."""
    import cv2

    x, y = class_images(per_class, len(classes), size=(40, 48))
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        folder = root / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".jpg" if i % 2 else ".png"
        cv2.imwrite(str(folder / f"img{i:03d}{suffix}"), image)
    bad = []
    if broken:
        good = (root / classes[0] / "img001.jpg").read_bytes()
        (root / classes[0] / "truncated.jpg").write_bytes(good[: len(good) // 2])
        (root / classes[1] / "empty.jpg").write_bytes(b"")
        (root / classes[2] / "notes.jpg").write_text("this is not an image\n")
        bad = ["truncated.jpg", "empty.jpg", "notes.jpg"]
    return root, bad


def write_hdf5(path: Path, n_per_class=10, classes=3, size=(16, 16)):
    import h5py

    x, y = class_images(n_per_class, classes, size=size)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=x)
        f.create_dataset("labels", data=y)
        f.create_dataset("label_names", data=[f"class{c}".encode() for c in range(classes)])
    return path


def write_images(folder: Path, names, size=(12, 16)) -> list[Path]:
    """Small images named `names` in `folder`, PNG-encoded whatever their suffix (zoo's decoder
    judges a file by its bytes), one class pattern each."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    images, _ = class_images(1, len(names), size=size)
    paths = []
    for name, image in zip(names, images, strict=True):
        ok, data = cv2.imencode(".png", image)
        assert ok
        (folder / name).write_bytes(data.tobytes())
        paths.append(folder / name)
    return paths
