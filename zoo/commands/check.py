"""`zoo check`: the sanity checks before a long run (`zoo.check`), one line each.

The settings are `zoo train`'s (`zoo.config.FIELDS`, one flag each, and `--config`), as for
`zoo lr-find`: the same command line with `check` for `train` checks the model, data and
optimizer that run would train.
"""

from __future__ import annotations

import argparse
import json
import sys

from zoo.commands._common import (
    add_setting_flags,
    at_least,
    console,
    load_keras,
    new_run_config,
    setup_logging,
)
from zoo.errors import ZooError

GROUPS = {"model": "model", "data": "data",
          "optimizer": "optimizer (the overfitting test trains at --lr, constant; 0.01 when "
          "it is auto)",
          "schedule": "learning-rate schedule (plays no part)",
          "run": "run (--seed counts here; the others play no part)",
          "distribution": "distribution (the checks run on one device)"}
# the check names, as zoo.check.CHECKS spells them (not imported: numpy stays unloaded here)
CHECK_NAMES = ("initial_loss", "overfit", "data", "lr_range")
DEFAULT_OVERFIT_STEPS = 300  # zoo.check.OVERFIT_STEPS
DEFAULT_LR_STEPS = 60  # zoo.check.LR_STEPS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check", help="sanity checks before a long run: the initial loss, overfitting two "
        "batches, the data (leaks, balance), the learning-rate range",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check what 'zoo train' with the same flags would train, before it "
        "trains:\n"
        "  initial_loss  the fresh model's loss against ln(classes), and that its outputs are "
        "one softmax\n"
        "  overfit       the model memorises 2 batches of 16 training images (100% training "
        "accuracy)\n"
        "                within --overfit-steps steps at a constant --lr\n"
        "  data          class counts and imbalance, test (and validation) images whose pixels "
        "equal a\n"
        "                training image's, image shapes\n"
        "  lr_range      Smith's range test (zoo lr-find) in --lr-steps steps, and its "
        "suggestions\n"
        "Prints one line per check, 'PASS name: what it found' or 'FAIL name: what is wrong\n"
        "and what to do'; with --json one object. Writes nothing.\n\n"
        "exit status: 0 every check passed (warnings pass), 1 a check failed, 2 bad input.",
        epilog="examples:\n  zoo check --model lenet --dataset digits\n"
        "  zoo check --model minivggnet --dataset folder:~/animals --image-size 64,64 --json\n"
        "  zoo check --config configs/lenet_digits.yaml --skip lr_range\n"
        "  zoo check --model resnet20 --dataset cifar10 && zoo train --model resnet20 "
        "--dataset cifar10")
    p.add_argument("--config", metavar="FILE", help="YAML file of settings, or a run "
                   "directory (its config.yaml)")
    checks = p.add_argument_group("checks")
    checks.add_argument("--skip", metavar="NAME[,NAME]", default="",
                        help=f"checks not to run: {', '.join(CHECK_NAMES)}")
    checks.add_argument("--overfit-steps", type=int, default=DEFAULT_OVERFIT_STEPS,
                        metavar="N", help="the most steps the overfitting test may take "
                        f"(default: {DEFAULT_OVERFIT_STEPS})")
    checks.add_argument("--lr-steps", type=int, default=DEFAULT_LR_STEPS, metavar="N",
                        help=f"the range test's steps (default: {DEFAULT_LR_STEPS})")
    checks.add_argument("--json", action="store_true", help='print one JSON object, '
                        '{"checks": [{"name", "passed", "summary", "figures"}, ...], '
                        '"passed": true|false}, and nothing else on stdout')
    add_setting_flags(p, GROUPS)
    p.set_defaults(func=run)


def parse_skip(text: str) -> tuple[str, ...]:
    """The names `--skip` lists, each one of `CHECK_NAMES` (a one-line error naming them)."""
    import difflib

    names = tuple(t.strip() for t in text.split(",") if t.strip())
    for name in names:
        if name not in CHECK_NAMES:
            close = difflib.get_close_matches(name, CHECK_NAMES, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ZooError(f"--skip {name}: no such check{hint} (known: "
                           f"{', '.join(CHECK_NAMES)})")
    return names


def run(args) -> int:
    skip = parse_skip(args.skip)
    at_least("--overfit-steps", args.overfit_steps, 2)
    if "lr_range" not in skip:  # before the data loads
        from zoo.training.lr_finder import MIN_STEPS

        at_least("--lr-steps", args.lr_steps, MIN_STEPS)
    config = new_run_config(args)  # as zoo train resolves a new run's
    if config.task == "boxes":
        raise ZooError("zoo check is written for classifiers; --task boxes is not "
                       "available here yet (zoo train --task boxes takes a given --lr)")
    setup_logging()
    load_keras()
    from zoo.check import run_checks

    def show(check) -> None:
        if not args.json:
            print(check.line(), flush=True)

    results = run_checks(config, console=console(stderr=True), lr_steps=args.lr_steps,
                         overfit_steps=args.overfit_steps, skip=skip, on_check=show)
    passed = all(c.passed for c in results)
    if args.json:
        print(json.dumps({"checks": [c.to_json() for c in results], "passed": passed}))
    elif not passed:
        failed = [c.name for c in results if not c.passed]
        print(f"zoo: {len(failed)} check{'' if len(failed) == 1 else 's'} failed: "
              f"{', '.join(failed)}", file=sys.stderr)
    return 0 if passed else 1
