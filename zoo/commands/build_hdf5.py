"""`zoo build-hdf5`: a class folder decoded once into one HDF5 file."""

from __future__ import annotations

import sys

from zoo.choices import parse_image_size
from zoo.commands._common import Formatter, at_least, console


def add_parser(sub) -> None:
    p = sub.add_parser("build-hdf5", help="decode a class folder once into an HDF5 file",
                       formatter_class=Formatter,
                       description="Decode every image of a class folder (in parallel) into "
                       "one HDF5 file that '--dataset hdf5:FILE' trains from, keeping the "
                       "folder's train/val/test split. Unreadable files are skipped and listed "
                       "in FILE.skipped.txt. Prints the file's path as its last line.")
    p.add_argument("--dataset", required=True, metavar="folder:PATH",
                   help="the class folder (one sub-folder per class, or train/, val/, test/)")
    p.add_argument("--image-size", type=parse_image_size, metavar="H,W",
                   help="resize every image to this size (default: the first image's size)")
    p.add_argument("--grayscale", action="store_true", help="store one channel, not RGB")
    p.add_argument("--output", "-o", required=True, metavar="FILE.h5", help="the HDF5 file")
    p.add_argument("--workers", type=int, metavar="N",
                   help="decoding threads (default: the number of CPUs)")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.data.hdf5build import build_hdf5

    at_least("--workers", args.workers)
    result = build_hdf5(args.dataset, args.output, image_size=args.image_size,
                        channels=1 if args.grayscale else 3, workers=args.workers,
                        console=console(stderr=True))
    counts = ", ".join(f"{n} {s}" for s, n in result.counts.items() if n)
    print(f"wrote {counts} images of {len(result.label_names)} classes, "
          f"{'x'.join(map(str, result.image_shape))}", file=sys.stderr)
    if result.skipped:
        print(f"zoo: warning: skipped {len(result.skipped)} files (not images, or unreadable); "
              f"the list is in {result.skipped_file}", file=sys.stderr)
    print(result.path)
    return 0
