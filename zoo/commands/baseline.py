"""`zoo baseline`: zoo extract, then zoo fit-features, into one run directory."""

from __future__ import annotations

from zoo.commands._common import Formatter, console, setup_logging
from zoo.commands._features import (
    add_classifier_args,
    add_data_args,
    add_extractor_args,
    add_run_args,
    data_kwargs,
    extractor_from_args,
)


def add_parser(sub) -> None:
    p = sub.add_parser("baseline", help="extract features and fit a classifier in one step",
                       formatter_class=Formatter,
                       description="zoo extract, then zoo fit-features, into one run "
                       "directory (the features file is kept there as features.h5).")
    add_extractor_args(p, "--features")
    add_data_args(p)
    add_classifier_args(p)
    add_run_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    setup_logging()
    extractor = extractor_from_args(args.features, args)
    from zoo.features.classifiers import baseline

    run_dir, _ = baseline(extractor, args.dataset, args.classifier, grid=args.grid,
                          output=args.output, name=args.name, console=console(),
                          **data_kwargs(args))
    print(run_dir)
    return 0
