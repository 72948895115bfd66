"""`zoo train`: a new run from a model, a dataset and settings, or the rest of one (--resume).

The flags are `zoo.config.FIELDS`, one per setting, grouped as the help shows them; the
cluster flags (how this process joins the others) are given to each process, never saved.
"""

from __future__ import annotations

import argparse

from zoo.commands._common import (
    add_setting_flags,
    console,
    load_keras,
    new_run_config,
    setup_logging,
)
from zoo.errors import ZooError

GROUPS = {"model": "model", "data": "data", "optimizer": "optimizer",
          "schedule": "learning-rate schedule", "run": "run",
          "distribution": "distribution (several devices, processes or hosts)"}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a model on a dataset, with checkpoints, curves and a report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train MODEL on DATASET. Settings: defaults < --config FILE.yaml < flags. "
        "Writes a run directory (OUTPUT/NAME) and prints its path as the last line.",
        epilog="examples:\n  zoo train --config configs/lenet_digits.yaml\n"
        "  zoo train --model minivggnet --dataset cifar10 --epochs 40 --lr-schedule time "
        "--lr-decay 0.00025\n"
        "  zoo train --resume output/RUN              (on to the run's own --epochs)\n"
        "  zoo train --resume output/RUN --epochs 60  (extend it to 60 epochs)")
    p.add_argument("--config", metavar="FILE", help="YAML file of settings (keys = flag names "
                   "with underscores)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run with its own saved settings; of the flags, "
                   "only --epochs (to extend), --early-stop, --checkpoint-every, --tensorboard, "
                   "--steps-per-execution and --data-dir may change")
    _add_setting_flags(p)
    p.set_defaults(func=run)


def _add_setting_flags(p) -> None:
    groups = add_setting_flags(p, GROUPS)
    # How this process joins the others: given to each process, never saved with the run.
    group = groups["distribution"]
    group.add_argument("--coordinator", metavar="HOST:PORT",
                       help="JAX, several processes: the address of process 0, the same for "
                       "all (default: $KERAS_DISTRIBUTION_JOB_ADDRESSES, or SLURM's)")
    group.add_argument("--num-processes", type=int, metavar="N",
                       help="the number of processes training together (default: "
                       "$KERAS_DISTRIBUTION_NUM_PROCESSES, or SLURM's, or 1)")
    group.add_argument("--process-id", type=int, metavar="I",
                       help="this process's index, 0 to N-1; process 0 writes the run "
                       "(default: $KERAS_DISTRIBUTION_PROCESS_ID, or SLURM's)")
    group.add_argument("--coordinator-timeout", type=int, metavar="SECONDS",
                       help="how long to wait for every process to join (default: 300)")


def _config(args):
    """The run's `Config`: a resumed run's own settings, or defaults < --config < flags."""
    from zoo.config import FIELDS, resume_config
    from zoo.run import CONFIG, RunDir

    if args.resume:
        if args.config:
            raise ZooError(f"--resume continues a run with its own {CONFIG}; --config starts "
                           "a new one (drop one of them)")
        run_dir = RunDir.open(args.resume)
        flags = {f.name: getattr(args, f.name) for f in FIELDS}
        return resume_config(run_dir.read_config(), flags, where=str(run_dir))
    return new_run_config(args)


def run(args) -> int:
    config = _config(args)
    from zoo.backend import backend_name
    from zoo.training.launch import check, launch_from

    launch = launch_from(args.coordinator, args.num_processes, args.process_id,
                         args.coordinator_timeout)
    check(config.distribute, launch, backend_name())  # before Keras loads
    setup_logging()
    load_keras()
    from zoo.training.trainer import train

    run_dir = train(config, resume=args.resume, console=console(), launch=launch)
    print(run_dir)
    return 0
