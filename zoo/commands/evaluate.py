"""`zoo evaluate`: a run's metrics, report and confusion matrix again, or an ensemble's."""

from __future__ import annotations

from zoo.commands._common import Formatter, console, load_keras, setup_logging
from zoo.errors import ZooError
from zoo.tta import MODES as TTA_MODES


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="recompute a run's metrics, report and confusion matrix",
                       formatter_class=Formatter)
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?",
                   help="the run to evaluate (not with --ensemble)")
    p.add_argument("--dataset", help="evaluate on another dataset with the same classes")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="which split (test falls back to val when there is none)")
    p.add_argument("--ensemble", nargs="+", metavar="RUN_DIR",
                   help="evaluate these runs as one model: the mean of their probabilities, "
                   "beside each member")
    p.add_argument("--output", metavar="DIR",
                   help="where --ensemble writes its report (default: "
                   "output/ensemble-YYYYmmdd-HHMMSS)")
    p.add_argument("--tta", choices=TTA_MODES,
                   help="test-time augmentation: the mean of the softmax over each image and "
                   "its mirror (flip), or over Krizhevsky's ten crops (crops: the image resized "
                   "to 1/0.875 of the model's size, four corners and the centre, and their "
                   "mirrors); metrics.json records it")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.ensemble and args.run_dir:
        raise ZooError("give one RUN_DIR, or --ensemble RUN_DIR RUN_DIR ..., not both")
    if not args.ensemble and not args.run_dir:
        raise ZooError("give a RUN_DIR to evaluate, or --ensemble RUN_DIR RUN_DIR ...")
    if args.output and not args.ensemble:
        raise ZooError("--output is for --ensemble; a run's evaluation is written into the run")
    if args.ensemble:
        from zoo.run import RunDir

        runs = [RunDir.open(r) for r in args.ensemble]  # a typo fails before Keras loads
        setup_logging()
        load_keras()
        from zoo.evaluation import evaluate_ensemble

        metrics = evaluate_ensemble(runs, dataset=args.dataset, split=args.split,
                                    output=args.output, console=console(), tta=args.tta)
        print(metrics["output"])
        return 0
    setup_logging()
    load_keras()
    from zoo.evaluation import evaluate_run

    evaluate_run(args.run_dir, dataset=args.dataset, split=args.split, console=console(),
                 tta=args.tta)
    print(args.run_dir)
    return 0
