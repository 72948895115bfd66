"""The dataset registry: `digits`, `mnist`, `fashion_mnist`, `cifar10`, `cifar100`,
`folder:PATH` and `hdf5:PATH`, and `load_dataset`, which loads one by name.

Each dataset is described once, by a `DatasetSpec`: its loader (`zoo.data.builtin`,
`zoo.data.folder`, `zoo.data.hdf5`), its augmentation preset and what `zoo datasets` shows.
`load_dataset` returns `zoo.data.splits.Splits`: train, validation (held out from train,
stratified, when the dataset has none) and test, plus the class names, the augmentation preset
and the files a folder listing skipped. `classes` (a subset, renumbered) and `per_class` (a
few-shot training set) apply to every dataset (`zoo.data.splits`). Loaders take their settings
as explicit arguments: the defaults of `seed` and `val_split` live in `zoo.config.FIELDS`,
nowhere here. An unknown name is one line with the close names.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zoo.data.builtin import (
    DEBIAN_FASHION_MNIST,
    find_local,
    load_cifar10,
    load_cifar100,
    load_digits,
    load_fashion_mnist,
    load_mnist,
)
from zoo.data.folder import load_folder
from zoo.data.hdf5 import load_hdf5
from zoo.data.splits import (
    Loaded,
    LoadOptions,
    Split,
    Splits,
    default_names,
    hold_out_val,
    limit_split,
    sample_per_class,
    select_classes,
)
from zoo.errors import ZooError


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset, described once.

    Attributes:
        name: the registry key (`"cifar10"`), or the prefix of `PREFIX:PATH` datasets.
        loader: `loader(options) -> Loaded` for a named dataset, `loader(path, options)` for a
            prefix dataset.
        augmentation: the augmentation preset, keyword arguments of
            `zoo.data.augmentation.augment_batch`.
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
        found = find_local(self.name, data_dir)
        return found[0] if found else None


def _load_boxes(path: str, options: LoadOptions) -> Loaded:
    """`boxes:PATH` (issue 19): `zoo.boxes.annotations.load_boxes`."""
    from zoo.boxes.annotations import load_boxes  # the boxes package only when asked for

    return load_boxes(path, options)


# ---------------------------------------------------------------------------------------------
# the registry
#
# Augmentation presets are Keras ImageDataGenerator's meaning: rotation in degrees, shifts and
# zoom as fractions of the size. No flips for digits: a mirrored 2 is not a 2.

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("digits", load_digits,
                    augmentation=dict(rotation=10, shift=0.1, zoom=0.1, flip=False),
                    classes=10, shape=(8, 8, 1), sizes="1077/360/360",
                    origin="scikit-learn (bundled)", files="none needed"),
        DatasetSpec("mnist", load_mnist,
                    augmentation=dict(rotation=10, shift=0.1, zoom=0.1, flip=False),
                    classes=10, shape=(28, 28, 1), sizes="60000/10000",
                    origin="keras.datasets.mnist", files="mnist.npz or the idx .gz files"),
        DatasetSpec("fashion_mnist", load_fashion_mnist,
                    augmentation=dict(rotation=0, shift=0.1, zoom=0.05, flip=True),
                    classes=10, shape=(28, 28, 1), sizes="60000/10000",
                    origin=f"{DEBIAN_FASHION_MNIST} or keras.datasets.fashion_mnist",
                    files="the idx .gz files"),
        # He et al. 2016: 4-pixel shifts of 32x32 images and horizontal flips.
        DatasetSpec("cifar10", load_cifar10,
                    augmentation=dict(rotation=0, shift=0.125, zoom=0.0, flip=True),
                    classes=10, shape=(32, 32, 3), sizes="50000/10000",
                    origin="keras.datasets.cifar10",
                    files="cifar-10-python.tar.gz or cifar-10-batches-py/"),
        DatasetSpec("cifar100", load_cifar100,
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
        DatasetSpec("folder", load_folder,
                    augmentation=dict(rotation=30, shift=0.1, zoom=0.2, flip=True),
                    origin="one sub-folder per class, or train/, val/, test/ of them"),
        DatasetSpec("hdf5", load_hdf5,
                    augmentation=dict(rotation=15, shift=0.1, zoom=0.1, flip=True),
                    origin="an HDF5 file of images, labels and label_names"),
        # issue 19 (zoo.boxes): one box per image; the preset moves boxes with the pixels,
        # so no rotation
        DatasetSpec("boxes", _load_boxes,
                    augmentation=dict(rotation=0, shift=0.1, zoom=0.1, flip=True),
                    origin="ANNOTATIONS.csv of filename,x1,y1,x2,y2[,label], or class "
                    "folders with one CSV each (--task boxes)"),
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
        loaded = select_classes(full_name, loaded, classes)
    train, val = loaded.train, loaded.val
    if val is None:
        train, val = hold_out_val(full_name, spec.name, train, val_split, seed)
    train = sample_per_class(full_name, train, per_class, seed)

    def limited(split: Split | None) -> Split | None:
        if split is None or not len(split):
            return None
        return limit_split(full_name, split, limit, seed)

    return Splits(
        name=full_name,
        kind=spec.name,
        train=limit_split(full_name, train, limit, seed),
        val=limited(val),
        test=limited(loaded.test),
        label_names=loaded.label_names or default_names(train.source.labels),
        image_shape=train.source.image_shape,
        origin=loaded.origin,
        augmentation=dict(spec.augmentation),
        skipped=loaded.skipped,
    )

