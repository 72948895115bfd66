"""`zoo build-hdf5`: decode a class folder once into an HDF5 file that `hdf5:FILE` trains from.

Decoding is the slow part of training from JPEGs; doing it once, in parallel (the decoders
release the GIL, so a thread pool is enough), leaves training to read uint8 arrays. Images are
written in chunks, never all in memory, to a temporary file renamed at the end: an interrupted
build leaves no `FILE`. Files that cannot be decoded are skipped, and listed with their reasons
beside the file (`FILE.skipped.txt`).

The file holds `images` (`N x H x W x C` uint8), `labels` (`N` int64), `label_names` and
`split` (`0` train, `1` val, `2` test: a folder's own `train/`, `val/`, `test/` stay apart).
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.data.splits import SPLIT_NAMES, LoadOptions
from zoo.errors import ZooError
from zoo.io import write_skipped_list

CHUNK = 256  # images decoded, then written, at a time


@dataclass
class BuildResult:
    """What `build_hdf5` wrote: the file, its image count per split, the image shape, the
    class names and `{path: reason}` of every file it skipped."""

    path: Path
    counts: dict[str, int]
    image_shape: tuple[int, int, int]
    label_names: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    skipped_file: Path | None = None


def skipped_list_path(output: str | Path) -> Path:
    """Where the list of skipped files of `output` goes: `FILE.skipped.txt` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".skipped.txt")


def _decode(path: str, size: tuple[int, int], channels: int):
    from zoo.data.images import UnreadableImage, read_image
    from zoo.data.preprocessing import resize_and_crop

    try:
        return resize_and_crop(read_image(path, channels, size), size), None
    except UnreadableImage as exc:
        return None, str(exc)


def build_hdf5(dataset: str, output: str | Path, *, image_size: tuple[int, int] | None = None,
               channels: int = 3, workers: int | None = None, chunk: int = CHUNK,
               console=None) -> BuildResult:
    """Decode the images of a class folder into an HDF5 file.

    Args:
        dataset: `"folder:PATH"` (one sub-folder per class, or `train/`, `val/`, `test/` of
            them).
        output: the HDF5 file to write; replaced atomically when the build completes.
        image_size: `(height, width)` every image is resized (and centre-cropped) to.
            Defaults to `None` (the size of the first readable image).
        channels: `3` (RGB) or `1` (grayscale). Defaults to `3`.
        workers: decoding threads. Defaults to `None` (the CPU count).
        chunk: images decoded and written at a time. Defaults to `256`.
        console: a rich console for the progress bar. Defaults to `None` (stderr).

    Returns:
        A `BuildResult`.

    Raises:
        ZooError: not a `folder:` dataset, a missing or empty folder, or no readable image.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from zoo.data.folder import load_folder
    from zoo.io import atomic_hdf5

    prefix, colon, path = dataset.partition(":")
    if prefix != "folder" or not colon or not path:
        raise ZooError(f"build-hdf5 reads a class folder: --dataset folder:PATH; got '{dataset}'")
    if channels not in (1, 3):
        raise ZooError(f"channels must be 1 or 3; got {channels}")
    output = Path(output)
    if output.is_dir():
        raise ZooError(f"--output {output} is a directory; give a file name such as data.h5")
    options = LoadOptions(seed=0, val_split=0.0, limit=None, data_dir=None,
                          image_size=tuple(image_size) if image_size else None,
                          channels=channels)
    loaded = load_folder(path, options)
    source = loaded.train.source
    height, width = source.size
    order = [(code, split) for code, split in enumerate((loaded.train, loaded.val, loaded.test))
             if split is not None]
    indices = np.concatenate([split.indices for _, split in order])
    codes = np.concatenate([np.full(len(split), code, dtype=np.uint8) for code, split in order])
    skipped = dict(loaded.skipped)
    workers = max(1, workers or os.cpu_count() or 1)
    console = console or Console(file=sys.stderr)
    written = 0
    counts = dict.fromkeys(SPLIT_NAMES, 0)
    with atomic_hdf5(output) as (f, check), \
            ThreadPoolExecutor(max_workers=workers) as pool, \
            Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                     TimeRemainingColumn(), console=console, transient=True,
                     disable=not console.is_terminal) as bar:
        images = f.create_dataset("images", shape=(0, height, width, channels),
                                  maxshape=(None, height, width, channels), dtype=np.uint8,
                                  chunks=(min(chunk, 64), height, width, channels))
        labels = f.create_dataset("labels", shape=(0,), maxshape=(None,), dtype=np.int64)
        split = f.create_dataset("split", shape=(0,), maxshape=(None,), dtype=np.uint8)
        f.create_dataset("label_names", data=[n.encode() for n in loaded.label_names])
        f.attrs["source"] = str(loaded.origin)
        task = bar.add_task("decoding", total=len(indices))
        for start in range(0, len(indices), chunk):
            part = indices[start : start + chunk]
            paths = [source.paths[i] for i in part]
            decoded = list(pool.map(lambda p: _decode(p, (height, width), channels), paths))
            keep = [i for i, (image, _) in enumerate(decoded) if image is not None]
            for (_, reason), p in zip(decoded, paths, strict=True):
                if reason is not None:
                    skipped[p] = reason
            if keep:
                end = written + len(keep)
                for dataset_ in (images, labels, split):
                    dataset_.resize(end, axis=0)
                images[written:end] = np.stack([decoded[i][0] for i in keep])
                labels[written:end] = source.labels[part[keep]]
                split[written:end] = codes[start : start + chunk][keep]
                for code in codes[start : start + chunk][keep]:
                    counts[SPLIT_NAMES[code]] += 1
                written = end
                check()  # a full disk stops the build here, not at its end
            bar.advance(task, len(part))
        if not counts["train"]:
            raise ZooError(f"{dataset}: no readable training image; nothing written")
        listing = skipped_list_path(output)  # before the file appears: never one without it
        if skipped:
            write_skipped_list(listing, skipped)
        else:
            listing.unlink(missing_ok=True)  # a list from an earlier build of the same file
    return BuildResult(path=output, counts=counts, image_shape=(height, width, channels),
                       label_names=list(loaded.label_names), skipped=skipped,
                       skipped_file=listing if skipped else None)
