"""Where images come from: arrays in memory, an HDF5 file, or image files decoded on demand.

A source answers `load(indices) -> (uint8 images N x H x W x C, ok mask)`. Files are decoded
when a batch asks for them (by `zoo.data.images`, the one decoder), so a folder bigger than
memory still trains; a file that cannot be decoded comes back with `ok=False` and is
remembered in `bad_files` with the decoder's reason ("truncated image data", ...).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from zoo.data.images import UnreadableImage, read_image
from zoo.data.preprocessing import resize_and_crop

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")


def is_image_name(path: str | Path) -> bool:
    """Whether a file's name says it is an image: its suffix, in any case (`.JPG` too), is one
    of `IMAGE_SUFFIXES`. The one place that judges a file by its name; its bytes are judged
    by the decoder when a batch reads it."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


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
        out = np.zeros((len(indices), *self.image_shape), dtype=np.uint8)
        ok = np.zeros(len(indices), dtype=bool)
        for i, index in enumerate(indices):
            path = self.paths[index]
            try:
                image = read_image(path, self.channels, self.size)
            except UnreadableImage as exc:
                self.bad_files[path] = str(exc)
                continue
            out[i] = resize_and_crop(image, self.size)
            ok[i] = True
        return out, ok
