"""Real data for `--task boxes`: Fashion-MNIST items at random positions and scales on larger
canvases with clutter, and their boxes and classes in ANNOTATIONS.csv.

    python scripts/make_box_canvases.py OUT_DIR [--count 4000] [--size 96] [--seed 0]
                                        [--split train|test] [--data-dir DIR]

Each canvas (grayscale PNG, SIZE x SIZE) holds one real Fashion-MNIST item (from the idx files
in /usr/share/datasets/fashion-mnist, or --data-dir; nothing is downloaded), scaled to between
30% and 70% of the canvas side and placed at random, over background noise and three clutter
fragments: small pieces cut from other items, so the network must find the whole item, not any
bright pixel. The box is the item's tight box (its pixels above 32 of 255), in canvas pixels
with edge coordinates (x1 <= x < x2); the label is its Fashion-MNIST class. `--split test`
draws the items from the t10k file, for an evaluation set the training never saw:

    zoo evaluate RUN --dataset boxes:OUT_DIR_TEST/ANNOTATIONS.csv

Everything is drawn from one generator seeded by --seed: the same arguments write the same
files. The tests build small sets with `make_canvases`.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
ITEM_THRESHOLD = 32  # item pixels brighter than this make its box
SCALES = (0.3, 0.7)  # the item's side, as a fraction of the canvas side
FRAGMENTS = 3
MIN_SIZE = 16  # the smallest canvas side main() accepts


def load_items(split: str = "train", data_dir: str | Path | None = None):
    """Fashion-MNIST `(images N x 28 x 28 uint8, labels, class names)` of `split`."""
    from zoo.data.builtin import FASHION_LABELS
    from zoo.data.formats import read_idx

    directory = Path(data_dir) if data_dir else FASHION_DIR
    part = "train" if split == "train" else "t10k"
    images = read_idx(directory / f"{part}-images-idx3-ubyte.gz")
    labels = read_idx(directory / f"{part}-labels-idx1-ubyte.gz").astype(np.int64)
    return images, labels, list(FASHION_LABELS)


def draw_canvas(rng: np.random.Generator, images: np.ndarray, size: int):
    """One canvas: `(uint8 size x size, box (x1, y1, x2, y2), index of the item)`."""
    import cv2

    canvas = np.clip(rng.normal(12, 8, (size, size)), 0, 255)
    for _ in range(FRAGMENTS):  # pieces of other items, a quarter of the canvas at most
        other = images[rng.integers(len(images))]
        piece = int(rng.integers(8, 15))
        top, left = rng.integers(0, 28 - piece, size=2)
        fragment = other[top : top + piece, left : left + piece].astype(np.float64)
        side = max(4, round(piece * rng.uniform(1.0, 1.8)))
        side = min(side, size // 4)
        fragment = cv2.resize(fragment, (side, side), interpolation=cv2.INTER_LINEAR)
        y, x = rng.integers(0, size - side, size=2)
        canvas[y : y + side, x : x + side] = np.maximum(canvas[y : y + side, x : x + side],
                                                        fragment)
    index = int(rng.integers(len(images)))
    side = max(8, round(size * rng.uniform(*SCALES)))
    item = cv2.resize(images[index].astype(np.float64), (side, side),
                      interpolation=cv2.INTER_LINEAR)
    y, x = (int(v) for v in rng.integers(0, size - side + 1, size=2))
    region = canvas[y : y + side, x : x + side]
    canvas[y : y + side, x : x + side] = np.maximum(region, item)
    rows = np.flatnonzero((item > ITEM_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((item > ITEM_THRESHOLD).any(axis=0))
    if not len(rows):  # an all-dark item: its whole square
        rows = cols = np.array([0, side - 1])
    box = (x + int(cols[0]), y + int(rows[0]), x + int(cols[-1]) + 1, y + int(rows[-1]) + 1)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8), box, index


def make_canvases(out_dir: str | Path, count: int, size: int = 96, seed: int = 0,
                  split: str = "train", data_dir: str | Path | None = None,
                  items=None) -> Path:
    """Write `count` canvases and their ANNOTATIONS.csv into `out_dir`; return the CSV's path.

    Args:
        out_dir: the folder to write (images under `images/`).
        count: how many canvases.
        size: the canvas side in pixels. Defaults to `96`.
        seed: seeds every draw. Defaults to `0`.
        split: `"train"` or `"test"`: which Fashion-MNIST file the items come from.
        data_dir: where the idx files are. Defaults to /usr/share/datasets/fashion-mnist.
        items: `(images, labels, names)` to draw from instead (already loaded).

    Returns:
        The path of ANNOTATIONS.csv (header `filename,x1,y1,x2,y2,label`).
    """
    import cv2

    images, labels, names = items if items is not None else load_items(split, data_dir)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    annotations = out / "ANNOTATIONS.csv"
    with open(annotations, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "x1", "y1", "x2", "y2", "label"])
        for i in range(count):
            canvas, box, index = draw_canvas(rng, images, size)
            name = f"images/{i:05d}.png"
            if not cv2.imwrite(str(out / name), canvas):
                raise OSError(f"could not write {out / name}")
            writer.writerow([name, *box, names[labels[index]]])
    return annotations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("train", "test"), default="train")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    # an item is at least 8 px and a clutter fragment 4 px, each placed at random inside
    if args.size < MIN_SIZE:
        parser.error(f"--size must be at least {MIN_SIZE}; got {args.size}")
    if args.count < 1:
        parser.error(f"--count must be at least 1; got {args.count}")
    directory = Path(args.data_dir) if args.data_dir else FASHION_DIR
    part = "train" if args.split == "train" else "t10k"
    if not (directory / f"{part}-images-idx3-ubyte.gz").is_file():
        parser.error(f"no {part}-images-idx3-ubyte.gz in {directory}; pass --data-dir DIR "
                     "holding the Fashion-MNIST idx files")
    path = make_canvases(args.out_dir, args.count, args.size, args.seed, args.split,
                         args.data_dir)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
