"""The features file of `zoo extract`, and the extraction that writes it.

Layout (HDF5):

    features       float32 (N, D), chunked, written batch by batch
    labels         int64 (N,)
    split          bytes (N,): b"train", b"val" or b"test", the split each row belongs to
    label_names    utf-8 strings, class names in label order
    extractor/     the fitted state of an extractor that learns one on the train split (a bag
                   of visual words: `codebook` (K, D) and, with TF-IDF, `idf` (K,)), absent
                   for the others
    attributes     model, layer, pooling, dataset, preprocessing, input_shape, extractor (the
                   extractor's JSON description), rows, dim, zoo_version, and `complete`

The file is written under a temporary name beside the target and renamed when whole, and
`complete` is set last: a file killed half-way is never taken for a finished one
(`read_features` refuses a file without the mark).
"""

from __future__ import annotations

import errno
import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.data.formats import as_text
from zoo.data.splits import SPLIT_NAMES
from zoo.errors import ZooError, from_os_error, is_disk_full


def check_output(output: str | Path) -> Path:
    """`output` as a `Path`, or a one-line error unless it names an HDF5 file."""
    output = Path(output)
    if output.suffix.lower() not in (".h5", ".hdf5"):
        raise ZooError(f"cannot write '{output}': the features file must end in .h5")
    if output.is_dir():  # found before the extraction, not after it
        raise from_os_error(OSError(errno.EISDIR, "", str(output)), "write",
                            remedy="give a file name such as features.h5")
    return output


log = logging.getLogger("zoo")

COMPLETE = "complete"


@dataclass
class FeatureSet:
    """A features file, read whole: `features` (N, D), `labels` (N,), `split` (N,) of
    `"train"`/`"val"`/`"test"`, `label_names`, the file's attributes, and `arrays`, the
    fitted state of its extractor (empty for most)."""

    features: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    label_names: list[str]
    attrs: dict
    arrays: dict = field(default_factory=dict)

    def part(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self.split == which
        return self.features[rows], self.labels[rows]

    @property
    def extractor(self) -> dict:
        return json.loads(self.attrs["extractor"])


def write_features(path: str | Path, batches, label_names: list[str], attrs: dict,
                   total: int | None = None, chunk_rows: int = 1024,
                   arrays: dict | None = None) -> int:
    """Write a features file from `batches`, an iterable of `(features (n, D), labels (n,),
    split name)`, and `arrays`, the extractor's fitted state (its `extractor` group);
    atomically, marked complete last. Returns the number of rows."""
    import h5py

    from zoo.io import atomic_hdf5

    rows = 0
    with atomic_hdf5(path) as (f, check):
        f.create_dataset("label_names", data=list(label_names), dtype=h5py.string_dtype())
        if arrays:
            group = f.create_group("extractor")
            for key, value in arrays.items():
                group.create_dataset(key, data=np.asarray(value, dtype=np.float32))
        for key, value in attrs.items():
            if key not in (COMPLETE, "rows", "dim"):  # those are this file's own, set last
                f.attrs[key] = "" if value is None else value
        features = labels = split = None
        for x, y, which in batches:
            x = np.asarray(x, dtype=np.float32)
            if features is None:
                dim = x.shape[1]
                size = total or len(x)
                chunk = (max(1, min(chunk_rows, size)), dim)
                features = f.create_dataset("features", (size, dim), np.float32,
                                            maxshape=(None, dim), chunks=chunk)
                labels = f.create_dataset("labels", (size,), np.int64, maxshape=(None,))
                split = f.create_dataset("split", (size,), "S5", maxshape=(None,))
            end = rows + len(x)
            if end > features.shape[0]:
                for dataset in (features, labels, split):
                    dataset.resize(max(end, 2 * features.shape[0]), axis=0)
            features[rows:end] = x
            labels[rows:end] = y
            split[rows:end] = which.encode()
            rows = end
            check()  # a full disk stops the extraction here, not at its end
        if features is None:
            raise ZooError("no readable images to extract features from")
        for dataset in (features, labels, split):  # unreadable files leave rows unused
            dataset.resize(rows, axis=0)
        f.attrs["rows"], f.attrs["dim"] = rows, features.shape[1]
        f.attrs[COMPLETE] = True  # the last write: the file is whole
    return rows


def read_features(path: str | Path) -> FeatureSet:
    """Read a features file whole; a one-line `ZooError` for a missing, foreign or incomplete
    file."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"features file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        if exc.errno is not None:  # the file system's refusal (permission denied), not HDF5's
            raise from_os_error(exc, "read", path) from None
        raise ZooError(f"{path} is not a readable HDF5 file (not one of 'zoo extract', or one "
                       "whose extraction was interrupted); write it with 'zoo extract'") from None
    with f:
        if "features" not in f or "labels" not in f or "split" not in f:
            raise ZooError(f"{path} holds no features, labels and split (not written by "
                           "'zoo extract'); write one with 'zoo extract'")
        if not f.attrs.get(COMPLETE, False):
            raise ZooError(f"{path} is incomplete (its extraction was interrupted); run "
                           "'zoo extract' again")
        features = np.asarray(f["features"][:], dtype=np.float32)
        labels = np.asarray(f["labels"][:], dtype=np.int64)
        split = np.char.decode(np.asarray(f["split"][:]), "ascii")
        names = as_text(f["label_names"][:])
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
        arrays = ({key: np.asarray(value[:], dtype=np.float32)
                   for key, value in f["extractor"].items()} if "extractor" in f else {})
    if not (len(features) == len(labels) == len(split)) or features.ndim != 2:
        raise ZooError(f"{path}: features, labels and split differ in length")
    return FeatureSet(features, labels, split, names, attrs, arrays)


def extract(extractor, dataset: str, output: str | Path, *, seed: int, val_split: float,
            limit: int | None = None, data_dir: str | None = None,
            classes: str | None = None, per_class: int | None = None,
            batch_size: int) -> Path:
    """Extract the features of every image of `dataset` (train, val and test) into `output`.

    Images are read, transformed and extracted one batch at a time (the next batch loads while
    one is extracted), so memory holds two batches whatever the dataset's size. An extractor
    that must be fitted (`needs_fit`, a bag of visual words) and is not yet is first fitted
    on the train split alone (its images read batch by batch too), and its fitted state is
    written with the features.

    Args:
        extractor: an `Extractor` (`zoo.features.extractors.get_extractor`); fitted here
            when it needs to be.
        dataset: a dataset name (`zoo datasets`).
        output: the `.h5` file to write.
        seed, val_split, limit, data_dir, classes, per_class: as for
            `zoo.data.datasets.load_dataset`.
        batch_size: images per batch (`zoo extract --batch-size`).

    Returns:
        The path written.
    """
    from rich.console import Console
    from rich.progress import Progress

    from zoo import __version__
    from zoo.data.datasets import load_dataset
    from zoo.data.hdf5build import skipped_list_path
    from zoo.data.pipeline import Transform, load_batch
    from zoo.io import write_skipped_list

    if batch_size < 1:
        raise ZooError(f"--batch-size must be at least 1; got {batch_size}")
    output = check_output(output)
    shape = tuple(extractor.input_shape)
    splits = load_dataset(dataset, seed=seed, val_split=val_split, limit=limit,
                          data_dir=data_dir, image_size=shape[:2], channels=3,
                          classes=classes, per_class=per_class)
    # 0-255 floats at the extractor's size; the extractor does its own preprocessing
    transform = Transform(size=shape[:2], channels=shape[2], mode="raw")
    jobs = [(which, split, split.indices[start : start + batch_size])
            for which, split in zip(SPLIT_NAMES, (splits.train, splits.val, splits.test),
                                    strict=True) if split is not None
            for start in range(0, len(split), batch_size)]
    total = sum(len(chunk) for _, _, chunk in jobs)
    if not jobs:
        raise ZooError(f"{splits.name}: no images to extract features from")
    if getattr(extractor, "needs_fit", False) and not extractor.fitted:
        _fit_on_train(extractor, splits.train, transform, batch_size, seed)
    description = extractor.describe()
    attrs = {"model": description["name"], "layer": description.get("layer") or "",
             "pooling": description.get("pooling") or "", "dataset": _resolved(splits.name),
             "preprocessing": str(description.get("preprocessing") or ""),
             "input_shape": list(shape), "extractor": json.dumps(description),
             "seed": seed, "val_split": val_split, "limit": limit or 0,
             "data_dir": str(Path(data_dir).expanduser().resolve()) if data_dir else "",
             "classes": classes or "", "per_class": per_class or 0,
             "zoo_version": __version__}

    def batches(bar, task):
        with ThreadPoolExecutor(max_workers=1) as loader:
            pending = loader.submit(load_batch, jobs[0][1], jobs[0][2], transform)
            for i, (which, _, chunk) in enumerate(jobs):
                x, y = pending.result()
                if i + 1 < len(jobs):
                    pending = loader.submit(load_batch, jobs[i + 1][1], jobs[i + 1][2],
                                            transform)
                if len(x):
                    yield extractor(x), y, which
                bar.advance(task, len(chunk))

    state = getattr(extractor, "state", None)
    try:
        with Progress(console=Console(stderr=True), transient=True,
                      disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task(f"extracting {description['name']}", total=total)
            write_features(output, batches(bar, task), splits.label_names, attrs, total=total,
                           arrays=state() if state else None)
    except OSError as exc:
        if getattr(exc, "action", None) != "write" and not is_disk_full(exc):
            raise  # reading the dataset failed: the error names its own file
        raise from_os_error(exc, "write", output) from None
    skipped = splits.skipped_files()
    listing = skipped_list_path(output)
    if skipped:
        write_skipped_list(listing, skipped)
        log.warning("skipped %d input files (not images, or unreadable); the list is in %s",
                    len(skipped), listing)
    else:
        listing.unlink(missing_ok=True)  # a list from an earlier extraction to the same file
    return output


def _fit_on_train(extractor, train, transform, batch_size: int, seed: int) -> None:
    """Fit `extractor` on the images of `train` alone (never validation or test), read batch
    by batch as often as its `fit` asks."""
    from rich.console import Console
    from rich.progress import Progress

    from zoo.data.pipeline import load_batch

    if train is None or not len(train):
        raise ZooError(f"{extractor.name} learns its codebook on the training split, and "
                       "this dataset has none")
    chunks = [train.indices[start : start + batch_size]
              for start in range(0, len(train), batch_size)]
    name = extractor.describe()["name"]
    with Progress(console=Console(stderr=True), transient=True,
                  disable=not sys.stderr.isatty()) as bar:

        def images():
            task = bar.add_task(f"fitting {name} on the training split", total=len(train))
            for chunk in chunks:
                x, _ = load_batch(train, chunk, transform)
                if len(x):
                    yield x
                bar.advance(task, len(chunk))

        started = time.perf_counter()
        extractor.fit(images, count=len(train), seed=seed)
    log.info("%s: codebook of %d words learned on %d descriptors of %d training images in "
             "%.1f s", name, extractor.dim, extractor.fit_descriptors, extractor.fit_images,
             time.perf_counter() - started)


def _resolved(dataset: str) -> str:
    """`dataset` with the path of a `folder:` or `hdf5:` dataset made absolute, so that the
    file's record of where its images came from holds from any working directory (the
    report page reads them back)."""
    kind, sep, path = dataset.partition(":")
    if sep and kind in ("folder", "hdf5") and path:
        return f"{kind}:{Path(path).expanduser().resolve()}"
    return dataset
