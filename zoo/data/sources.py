"""Where images come from: arrays in memory, an HDF5 file, or image files decoded on demand.

A source answers `load(indices) -> (uint8 images N x H x W x C, ok mask)`. Files are decoded
when a batch asks for them, so a folder bigger than memory still trains; a file that cannot
be decoded comes back with `ok=False` and is remembered in `bad_files`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")


class ArraySource:
    def __init__(self, images: np.ndarray, labels: np.ndarray):
        if images.ndim == 3:
            images = images[..., None]
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.image_shape = tuple(images.shape[1:])
        self.bad_files: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def load(self, indices: np.ndarray):
        return self.images[indices], np.ones(len(indices), dtype=bool)


class HDF5Source(ArraySource):
    """Reads `images` and `labels` from an HDF5 file, lazily: batches are read on demand."""

    def __init__(self, path: str | Path):
        import h5py

        self.path = str(path)
        self._file = h5py.File(self.path, "r")
        self._images = self._file["images"]
        self.labels = np.asarray(self._file["labels"][:], dtype=np.int64)
        shape = tuple(self._images.shape[1:])
        self.image_shape = shape if len(shape) == 3 else (*shape, 1)
        self.bad_files = {}
        self._lock = threading.Lock()

    def load(self, indices: np.ndarray):
        order = np.argsort(indices)
        with self._lock:  # h5py wants sorted, unique indices and one reader at a time
            unique, inverse = np.unique(indices[order], return_inverse=True)
            block = self._images[unique.tolist()][inverse]
        images = np.empty_like(block)
        images[order] = block
        if images.ndim == 3:
            images = images[..., None]
        return images.astype(np.uint8, copy=False), np.ones(len(indices), dtype=bool)


def decode_image(path: str, channels: int) -> np.ndarray | None:
    """Decode an image file to uint8 HxWxC (RGB or grayscale); None when it cannot be read."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        return None
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    image = cv2.imdecode(data, flag)
    if image is None:
        return None
    if _looks_truncated(path, data):
        return None
    if channels == 1:
        return image[..., None]
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _looks_truncated(path: str, data: np.ndarray) -> bool:
    # OpenCV decodes a truncated JPEG into a grey-padded image with only a warning; the
    # end-of-image marker (FF D9) tells us the file was cut short.
    if path.lower().endswith((".jpg", ".jpeg")) or bytes(data[:2]) == b"\xff\xd8":
        tail = bytes(data[-64:])
        return b"\xff\xd9" not in tail
    return False


class FileSource:
    """Image files with integer labels, decoded and resized to `size` when a batch needs them."""

    def __init__(self, paths: list[str], labels, size: tuple[int, int], channels: int):
        self.paths = list(paths)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.size = tuple(size)
        self.channels = channels
        self.image_shape = (*self.size, channels)
        self.bad_files: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, indices: np.ndarray):
        from zoo.data.preprocessing import resize_and_crop

        out = np.zeros((len(indices), *self.image_shape), dtype=np.uint8)
        ok = np.zeros(len(indices), dtype=bool)
        for i, index in enumerate(indices):
            path = self.paths[index]
            image = decode_image(path, self.channels)
            if image is None:
                self.bad_files[path] = "not a readable image"
                continue
            out[i] = resize_and_crop(image, self.size)
            ok[i] = True
        return out, ok
