"""`zoo fit-features`: a scikit-learn classifier fitted on a features file, as a run."""

from __future__ import annotations

from zoo.commands._common import Formatter, console, setup_logging
from zoo.commands._features import add_classifier_args, add_run_args


def add_parser(sub) -> None:
    from zoo.config import FIELDS_BY_NAME

    p = sub.add_parser("fit-features", help="fit a scikit-learn classifier on extracted "
                       "features and report on the test split", formatter_class=Formatter)
    p.add_argument("features", metavar="FILE.h5", help="a features file of 'zoo extract'")
    add_classifier_args(p)
    add_run_args(p)
    p.add_argument("--seed", type=int, default=FIELDS_BY_NAME["seed"].default,
                   help="seed of the random forest and the solvers")
    p.set_defaults(func=run)


def run(args) -> int:
    setup_logging()
    from zoo.features.classifiers import fit_features

    run_dir, _ = fit_features(args.features, args.classifier, grid=args.grid,
                              output=args.output, name=args.name, seed=args.seed,
                              console=console())
    print(run_dir)
    return 0
