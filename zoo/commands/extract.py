"""`zoo extract`: a dataset's features (a CNN layer or a classic descriptor) in an HDF5 file."""

from __future__ import annotations

from zoo.commands._common import Formatter, setup_logging
from zoo.commands._features import (
    add_data_args,
    add_extractor_args,
    data_kwargs,
    extractor_from_args,
)


def add_parser(sub) -> None:
    p = sub.add_parser("extract", help="write a dataset's features (a CNN layer or a classic "
                       "descriptor) to an HDF5 file", formatter_class=Formatter,
                       description="Extract features of every image of DATASET (train, val "
                       "and test) into FILE.h5, batch by batch. The file is written under a "
                       "temporary name and marked complete last.")
    add_extractor_args(p, "--model")
    add_data_args(p)
    p.add_argument("--output", required=True, metavar="FILE.h5", help="the features file")
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.features.hdf5 import check_output, extract

    check_output(args.output)  # before a CNN is built
    setup_logging()
    extractor = extractor_from_args(args.model, args)
    extract(extractor, args.dataset, args.output, **data_kwargs(args))
    print(args.output)
    return 0
