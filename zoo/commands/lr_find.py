"""`zoo lr-find`: Smith's learning-rate range test (`zoo.training.lr_finder`), drawn and told.

The settings are `zoo train`'s (`zoo.config.FIELDS`, one flag each, and `--config`): the same
command line with `lr-find` for `train` tests the model, data and optimizer that run would
train. What belongs to a run only (epochs, schedule, run directory, distribution) is read and
plays no part, except `--output`, the folder of the default plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zoo.commands._common import (
    add_setting_flags,
    console,
    load_keras,
    new_run_config,
    setup_logging,
)
from zoo.errors import ZooError

GROUPS = {"model": "model", "data": "data",
          "optimizer": "optimizer (--lr plays no part: the test sets the rate of each step)",
          "schedule": "learning-rate schedule (replaced by the test's own)",
          "run": "run (--seed, --deterministic and --output count here)",
          "distribution": "distribution (the test runs on one device)"}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "lr-find", help="Smith's learning-rate range test: the loss as the rate grows, and "
        "the rate to train at", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train MODEL on DATASET from fresh weights for at most --steps steps "
        "while the learning rate grows exponentially from --start to --end, stop once the "
        "smoothed loss passes 4x its minimum, and draw the smoothed loss against the rate "
        "(log axis) with two suggestions marked: the steepest descent, and fastai's valley "
        "(what 'zoo train --lr auto' trains at). Prints the suggestions, then the plot's "
        "path as the last line; with --json one object. Writes nothing else.",
        epilog="examples:\n  zoo lr-find --model lenet --dataset digits\n"
        "  zoo lr-find --model minivggnet --dataset fashion_mnist --limit 5000 --json\n"
        "  zoo lr-find --config configs/lenet_digits.yaml -o lenet.png\n"
        "  zoo train --model lenet --dataset digits --lr auto   (the test, then the run)")
    p.add_argument("--config", metavar="FILE", help="YAML file of settings, or a run "
                   "directory (its config.yaml)")
    test = p.add_argument_group("range test")
    test.add_argument("--start", type=float, default=1e-7, metavar="LR",
                      help="the first step's learning rate (default: 1e-07)")
    test.add_argument("--end", type=float, default=10.0, metavar="LR",
                      help="the last step's learning rate (default: 10)")
    test.add_argument("--steps", type=int, default=100, metavar="N",
                      help="the most training steps, one rate each (default: 100)")
    test.add_argument("-o", "--plot", metavar="FILE.png",
                      help="the plot (.png, .svg or .pdf; default: "
                      "OUTPUT/lr-find-MODEL-DATASET.png)")
    test.add_argument("--json", action="store_true", help='print one JSON object, '
                      '{"suggested_lr": X, "valley_lr": Y, "plot": PATH}, and nothing else '
                      "on stdout")
    add_setting_flags(p, GROUPS)
    p.set_defaults(func=run)


def run(args) -> int:
    from zoo.training.lr_finder import check_range

    check_range(args.start, args.end, args.steps)  # before the data loads
    if args.plot:
        check_plot(args.plot)
    config = new_run_config(args)  # as zoo train resolves a new run's
    if config.task == "boxes":
        raise ZooError("zoo lr-find is written for classifiers; --task boxes is not "
                       "available here yet (zoo train --task boxes takes a given --lr)")
    plot = Path(args.plot) if args.plot else (
        Path(config.output) / f"lr-find-{config.model}-{config.dataset.split(':')[0]}.png")
    setup_logging()
    load_keras()
    from zoo.plots import plot_lr_find
    from zoo.training.lr_finder import lr_range_test, range_stop

    err = console(stderr=True)
    finding = lr_range_test(config, args.start, args.end, args.steps, console=err)
    plot_lr_find(finding, plot, title=f"lr range test: {config.model} on {config.dataset}, "
                 f"{config.optimizer}, batch {config.batch_size}")
    stop = range_stop(finding)
    if stop:
        print(f"zoo: {stop}", file=sys.stderr)
    if finding.suggested_lr is None and finding.valley_lr is None:
        print("zoo: warning: the loss fell nowhere in the range: try a lower --start, a "
              "higher --end or more --steps", file=sys.stderr)
    if args.json:
        print(json.dumps({"suggested_lr": finding.suggested_lr, "valley_lr": finding.valley_lr,
                          "plot": str(plot)}))
        return 0
    taken = "valley" if finding.valley_lr is not None else "steepest"
    for name, label, lr in (("steepest", "steepest descent:", finding.suggested_lr),
                            ("valley", "valley:", finding.valley_lr)):
        note = "   (what --lr auto takes)" if name == taken and lr is not None else ""
        print(f"{label:<18}{_rate(lr)}{note}")
    print(plot)
    return 0


def check_plot(path: str) -> Path:
    """`-o`: a file that matplotlib draws by its suffix (.png, .svg or .pdf), checked before
    the data loads, not after the whole range test."""
    from zoo.commands.plot import PLOT_FORMATS

    plot = Path(path)
    if plot.suffix.lower() not in PLOT_FORMATS:
        raise ZooError(f"-o {plot}: the plot must end in {', '.join(PLOT_FORMATS)} "
                       f"(got '{plot.suffix or 'no suffix'}')")
    if plot.is_dir():
        raise ZooError(f"-o {plot} is a folder; give a file name ending in "
                       f"{', '.join(PLOT_FORMATS)}")
    return plot


def _rate(lr: float | None) -> str:
    return "none" if lr is None else f"{lr:.3g}"
