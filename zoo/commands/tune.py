"""`zoo tune`: hyper-parameter search on Optuna (TPE, median pruning), each trial a zoo run;
the study lives in a database, so it survives a kill and spans processes and machines."""

from __future__ import annotations

from zoo.commands._common import Formatter, at_least, console, setup_logging
from zoo.errors import ZooError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tune", help="search hyper-parameters with Optuna: resumable, several processes",
        formatter_class=Formatter,
        description="Search the settings of SPACE.yaml for the best monitored metric of "
        "BASE.yaml's runs (Optuna's TPE sampler; the median pruner stops bad trials at an "
        "epoch's end). SPACE.yaml maps config keys to a range or a list of choices: "
        "'lr: {low: 1.0e-4, high: 0.3, log: true}', 'batch_size: [32, 64, 128]'. Each trial "
        "is a run directory in OUTPUT/NAME/trials/; the study ends with best.yaml (for "
        "'zoo train --config'), trials.csv, history.png and importances.png there. The same "
        "command again continues the study (a killed trial is marked failed); run it in "
        "several processes, or on several machines with --storage, to share the work.",
        epilog="examples:\n"
        "  zoo tune --config configs/lenet_digits.yaml --space configs/tune_space_example.yaml "
        "--trials 20\n"
        "  zoo tune --config base.yaml --space space.yaml --name lenet-lr "
        "--storage postgresql://zoo:PASSWORD@db-host/zoo   (the same on every machine)")
    p.add_argument("--config", required=True, metavar="BASE.yaml",
                   help="the config every trial starts from (as 'zoo train --config')")
    p.add_argument("--space", required=True, metavar="SPACE.yaml",
                   help="the settings to search: a range or a list of choices each")
    p.add_argument("--trials", type=int, default=20, metavar="N",
                   help="complete and pruned trials to reach, counting every process's")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="start no new trial after this long (the one running finishes)")
    p.add_argument("--storage", metavar="URL",
                   help="a database shared by several machines: postgresql://USER:PASSWORD@"
                   "HOST/DB (or sqlite:///FILE); none: Optuna's journal file "
                   "OUTPUT/NAME/study.log, shared by the processes of one machine")
    p.add_argument("--name", help="the study's name and folder; none: "
                   "tune-MODEL-DATASET-YYYYmmdd-HHMMSS. Give it to continue a study")
    p.add_argument("--output", metavar="DIR",
                   help="parent folder of the study; none: the base config's output")
    p.add_argument("--seed", type=int, metavar="N",
                   help="the sampler's seed; none: the base config's seed")
    p.set_defaults(func=run)


def run(args) -> int:
    at_least("--trials", args.trials)
    if args.timeout is not None and not args.timeout > 0:
        raise ZooError(f"--timeout must be a positive number of seconds; got {args.timeout:g}")
    setup_logging()
    from zoo.tune import run_study

    folder = run_study(args.config, args.space, trials=args.trials, timeout=args.timeout,
                       storage=args.storage, name=args.name, output=args.output,
                       seed=args.seed, console=console())
    print(folder)
    return 0
