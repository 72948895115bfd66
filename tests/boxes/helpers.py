"""What the boxes tests share: small Fashion-MNIST canvas sets made by the script the
benchmark uses (scripts/make_box_canvases.py, imported, not copied), and image files with a
known box."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_box_canvases.py"


@functools.cache
def canvas_script():
    spec = importlib.util.spec_from_file_location("make_box_canvases", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _items():
    images, labels, names = canvas_script().load_items("train")
    return images[:3000], labels[:3000], names


def make_canvases(out_dir: Path, count: int, size: int = 32, seed: int = 0,
                  classes: int | tuple[int, ...] | None = None) -> Path:
    """`count` canvases of real Fashion-MNIST items in `out_dir`; the items of the first
    `classes` classes (or of the class indices `classes`) only when given. Returns
    ANNOTATIONS.csv."""
    images, labels, names = _items()
    if classes is not None:
        keep = np.isin(labels, classes if isinstance(classes, tuple) else range(classes))
        images, labels = images[keep], labels[keep]
    return canvas_script().make_canvases(out_dir, count, size=size, seed=seed,
                                         items=(images, labels, names))


def write_image(path: Path, height: int, width: int, box=None, value: int = 255) -> Path:
    """A grayscale PNG of `height` x `width`, black but for the filled `box` (edge pixels)."""
    import cv2

    image = np.zeros((height, width), np.uint8)
    if box is not None:
        x1, y1, x2, y2 = box
        image[y1:y2, x1:x2] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path
