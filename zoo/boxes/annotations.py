"""The `boxes:PATH` dataset: one box (and optionally a class) per image, from CSV annotations.

    boxes:ANNOTATIONS.csv   rows `filename,x1,y1,x2,y2[,label]`, the box in pixels of the
                            original image (edges: x1 <= x < x2); file names relative to the
                            CSV's folder, or to `--data-dir` when given; a header row with
                            those names is optional
    boxes:DIR               a folder of class folders, each holding one CSV of
                            `filename,x1,y1,x2,y2` rows for its images (the class is the folder's
                            name; a label column, if present, must agree with it). This is the
                            layout of CALTECH-101's annotations once each class's
                            `annotation_*.mat` box_coord (y1, y2, x1, x2) is written out as rows.

Every row that cannot be trained on is listed with its reason in the run's skipped list
(`skipped_files.txt`, as unreadable images are) and left out: a malformed row, a number that is
not one, an empty label, a missing or unreadable image, a box outside the image, x2 <= x1 or
y2 <= y1, a second box for an image already annotated. No good row left is a one-line error.

Images are decoded when a batch asks for them and letter-boxed to the model's size
(`zoo.boxes.geometry.Letterbox`): scaled to fit, the rest padded, so no part of a box is ever
cropped away; the box moves with the pixels.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from zoo.boxes.geometry import Letterbox
from zoo.data.images import UnreadableImage, read_image
from zoo.data.splits import Loaded, LoadOptions, Split
from zoo.errors import ZooError

COLUMNS = ("filename", "x1", "y1", "x2", "y2", "label")
UNLABELLED = "object"  # the one class name of annotations that name none


class BoxSource:
    """Image files with one box each (original pixels) and integer labels; `load` decodes and
    letter-boxes to `size`, `targets` gives the boxes normalised in that letter-boxed frame."""

    def __init__(self, paths: list[str], labels, boxes, sizes, size: tuple[int, int],
                 channels: int):
        self.paths = list(paths)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # original pixels
        self.sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)  # (height, width)
        self.size = tuple(size)
        self.channels = channels
        self.image_shape = (*self.size, channels)
        self.bad_files: dict[str, str] = {}
        self._targets = np.stack([
            Letterbox.of(h, w, self.size).to_input(box)
            for (h, w), box in zip(self.sizes, self.boxes, strict=True)
        ]).astype(np.float32) if len(self.paths) else np.zeros((0, 4), np.float32)

    def __len__(self) -> int:
        return len(self.paths)

    def letterbox(self, index: int) -> Letterbox:
        height, width = self.sizes[index]
        return Letterbox.of(int(height), int(width), self.size)

    def targets(self, indices: np.ndarray) -> np.ndarray:
        """The boxes of `indices`, normalised in their letter-boxed input (N x 4, float32)."""
        return self._targets[np.asarray(indices, dtype=np.int64)]

    def load(self, indices: np.ndarray):
        out = np.full((len(indices), *self.image_shape), 0, dtype=np.uint8)
        ok = np.zeros(len(indices), dtype=bool)
        for i, index in enumerate(indices):
            path = self.paths[index]
            try:
                image = read_image(path, self.channels)
            except UnreadableImage as exc:
                self.bad_files[path] = str(exc)
                continue
            if image.shape[:2] != tuple(self.sizes[index]):  # the file changed since listing
                self.bad_files[path] = (f"now {image.shape[1]}x{image.shape[0]}, was "
                                        f"{self.sizes[index][1]}x{self.sizes[index][0]} when "
                                        "its box was checked")
                continue
            out[i] = self.letterbox(index).apply(image)
            ok[i] = True
        return out, ok


def _image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, from its header when Pillow can tell; a file whose
    header reads but whose pixels do not is caught when its batch is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise UnreadableImage("missing file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        # let the one decoder say why, in its words
        height, width = read_image(path, 3).shape[:2]
    return int(height), int(width)


def _is_header(row: list[str]) -> bool:
    names = [cell.strip().lower() for cell in row]
    return names in (list(COLUMNS[:5]), list(COLUMNS))


def _number(text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"malformed row: {column} is {text!r}, not a number") from None
    if not np.isfinite(value):
        raise ValueError(f"malformed row: {column} is {text!r}, not a finite number")
    return value


class _Reader:
    """Reads annotation files into good rows and the skipped list."""

    def __init__(self, name: str, data_dir: str | None):
        self.name = name
        self.data_dir = Path(data_dir).expanduser() if data_dir else None
        self.paths: list[str] = []
        self.labels: list[str] = []
        self.boxes: list[tuple[float, float, float, float]] = []
        self.sizes: list[tuple[int, int]] = []
        self.skipped: dict[str, str] = {}
        self._seen: dict[str, str] = {}  # image -> where its box was given

    def read(self, csv_path: Path, folder_label: str | None = None) -> bool:
        """Read `csv_path`; returns whether its rows carry labels (or `folder_label`)."""
        try:
            with open(csv_path, newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.reader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ZooError(f"{self.name}: cannot read {csv_path} ({exc})") from None
        numbered = [(n, row) for n, row in enumerate(rows, 1)
                    if row and any(cell.strip() for cell in row)
                    and not row[0].lstrip().startswith("#")]
        labelled = folder_label is not None
        if numbered and _is_header(numbered[0][1]):
            labelled = labelled or len(numbered[0][1]) == 6
            numbered = numbered[1:]
        elif numbered:
            labelled = labelled or len(numbered[0][1]) == 6
        # a plain CSV has the columns of its header or first row throughout: a label on a
        # row of an unlabelled file would be dropped without a word
        width = None if folder_label is not None else 6 if labelled else 5
        for line, row in numbered:
            where = f"{csv_path} line {line}"
            try:
                self._row(csv_path, row, width, folder_label, where)
            except (ValueError, UnreadableImage) as exc:
                self.skipped[where] = str(exc)
        return labelled

    def _row(self, csv_path: Path, row: list[str], width: int | None, folder_label: str | None,
             where: str) -> None:
        cells = [cell.strip() for cell in row]
        allowed = (width,) if width else (5, 6)
        if len(cells) not in allowed:
            raise ValueError(f"malformed row: {len(cells)} fields, expected "
                             f"{' or '.join(map(str, allowed))} (filename,x1,y1,x2,y2"
                             f"{',label' if width == 6 or folder_label else ''})")
        filename = cells[0]
        if not filename:
            raise ValueError("malformed row: no filename")
        x1, y1, x2, y2 = (_number(text, column)
                          for text, column in zip(cells[1:5], COLUMNS[1:5], strict=True))
        label = cells[5] if len(cells) == 6 else folder_label
        if width == 6 and not label:
            raise ValueError("bad label: empty (every row of a labelled file names its class)")
        if folder_label is not None and len(cells) == 6 and label != folder_label:
            raise ValueError(f"bad label: {label!r} in the class folder {folder_label!r}")
        if x2 <= x1:
            raise ValueError(f"empty box: x2 {x2:g} <= x1 {x1:g}")
        if y2 <= y1:
            raise ValueError(f"empty box: y2 {y2:g} <= y1 {y1:g}")
        path = Path(filename).expanduser()
        if not path.is_absolute():
            path = (self.data_dir or csv_path.parent) / path
        path = Path(os.path.normpath(path))  # img/a.png and ./img/a.png are one image
        if not path.is_file():
            raise ValueError(f"missing file: {path}")
        key = str(path)
        if key in self._seen:
            raise ValueError(f"a second box for {filename} (first at {self._seen[key]}); one "
                             "box per image")
        height, width_px = _image_size(path)
        if x1 < 0 or y1 < 0 or x2 > width_px or y2 > height:
            raise ValueError(f"box ({x1:g},{y1:g},{x2:g},{y2:g}) outside the {width_px}x"
                             f"{height} image {filename}")
        self._seen[key] = where
        self.paths.append(key)
        self.labels.append(label or "")
        self.boxes.append((x1, y1, x2, y2))
        self.sizes.append((height, width_px))


def read_annotations(path: str, data_dir: str | None = None):
    """The good rows of annotations `path` (a CSV, or a folder of class folders with one CSV
    each) and `{row: reason}` of the bad ones.

    Returns:
        `(paths, label_names, labels, boxes, sizes, skipped)`; `label_names` is
        `[UNLABELLED]` (all labels 0) when the annotations name no classes.

    Raises:
        ZooError: no such file or folder, a folder without class CSVs, or no good row.
    """
    name = f"boxes:{path}"
    root = Path(path).expanduser()
    reader = _Reader(name, data_dir)
    if root.is_file():
        labelled = reader.read(root)
    elif root.is_dir():
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        found = 0
        for folder in folders:
            files = sorted(folder.glob("*.csv"))
            if len(files) > 1:
                raise ZooError(f"{name}: {folder} holds {len(files)} CSV files; give each "
                               "class folder one")
            for csv_path in files:
                found += 1
                reader.read(csv_path, folder_label=folder.name)
        if not found:
            raise ZooError(f"{name}: expected ANNOTATIONS.csv or a folder of class folders "
                           "with one CSV each; found no class CSV")
        labelled = True
    else:
        raise ZooError(f"{name}: no such file or folder")
    if not reader.paths:
        first = next(iter(reader.skipped.items()), None)
        said = (f" ({len(reader.skipped)} bad rows; the first, {first[0]}: {first[1]})"
                if first else " (no rows)")
        raise ZooError(f"{name}: no usable annotation row{said}; fix the rows or the paths")
    if labelled:
        names = sorted(set(reader.labels))
        labels = [names.index(label) for label in reader.labels]
    else:
        names, labels = [UNLABELLED], [0] * len(reader.paths)
    return reader.paths, names, labels, reader.boxes, reader.sizes, reader.skipped


def load_boxes(path: str, options: LoadOptions) -> Loaded:
    """The `boxes:PATH` dataset (`read_annotations`), letter-boxed to `options.image_size`.

    It has no validation or test split of its own: `load_dataset` holds out `--val-split`.
    """
    if options.image_size is None:
        raise ZooError(f"boxes:{path}: pass --image-size H,W (images are letter-boxed to it)")
    paths, names, labels, boxes, sizes, skipped = read_annotations(path, options.data_dir)
    source = BoxSource(paths, labels, boxes, sizes, options.image_size, options.channels)
    return Loaded(train=Split(source, np.arange(len(paths))), val=None, test=None,
                  label_names=names, origin=str(Path(path).expanduser()), skipped=skipped)


def box_source(source) -> BoxSource:
    """The `BoxSource` under `source` (a class subset wraps it)."""
    while not isinstance(source, BoxSource):
        inner = getattr(source, "source", None)
        if inner is None:
            raise ZooError("--task boxes needs a boxes:ANNOTATIONS.csv dataset")
        source = inner
    return source
