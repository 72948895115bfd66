"""`zoo train`: a new run from a model, a dataset and settings, or the rest of one (--resume).

The flags are `zoo.config.FIELDS`, one per setting, grouped as the help shows them; the
cluster flags (how this process joins the others) are given to each process, never saved.
"""

from __future__ import annotations

import argparse

from zoo.commands._common import console, load_keras, setup_logging
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
    from zoo.config import FIELDS

    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items()}
    for f in FIELDS:
        default = "" if f.default is None else f" (default: {f.default})"
        help_text = (f.help + default).replace("%", "%%")  # argparse formats help with %
        kwargs = dict(dest=f.name, default=None, help=help_text)
        if f.type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs.update(type=f.type, metavar=f.metavar or f.name.upper())
            if f.choices:
                kwargs.update(choices=f.choices, metavar="{" + ",".join(f.choices) + "}")
        groups[f.group].add_argument(f.flag, **kwargs)
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
    from pathlib import Path

    from zoo.config import FIELDS, resolve, resume_config
    from zoo.run import CONFIG, RunDir

    flags = {f.name: getattr(args, f.name) for f in FIELDS}
    if args.resume:
        if args.config:
            raise ZooError(f"--resume continues a run with its own {CONFIG}; --config starts "
                           "a new one (drop one of them)")
        run_dir = RunDir.open(args.resume)
        return resume_config(run_dir.read_config(), flags, where=str(run_dir))
    config_file = args.config
    if config_file and Path(config_file).is_dir():  # a run directory: its saved settings
        config_file = RunDir(config_file).config_file
    pretrained = flags["pretrained"]
    source = Path(pretrained).expanduser() if pretrained not in (None, "imagenet") else None
    if flags["model"] is None and not config_file and source and source.exists():
        # --pretrained RUN: the architecture is the run's own unless --model says it
        source_run = RunDir.open(source) if source.is_dir() else RunDir.containing(source)
        if source_run is not None:
            flags["model"] = source_run.read_config().get("model")
    return resolve(config_file, flags)


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
