"""What the command modules share: the parser classes, the consoles, logging, quiet imports,
the check of a count flag, and the `--model/--input-shape/--classes` flags of summary and plot.

The choices themselves (precisions, devices, formats, ...) are declared in `zoo.choices`.
"""

from __future__ import annotations

import argparse
import sys

from zoo.choices import parse_input_shape
from zoo.errors import EXIT_USAGE, ZooError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: `zoo: error: ...`, exit 2."""

    def error(self, message):  # noqa: D401 - argparse's signature
        raise ZooError(f"{message} (see '{self.prog} --help')", EXIT_USAGE)


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def load_keras():
    from zoo.backend import load_keras as _load

    return _load()


def console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Off a terminal (pipes, CI logs) keep tables on one line per row rather than wrapping at 80.
    width = None if stream.isatty() else 200
    return Console(file=stream, width=width, soft_wrap=False)


def setup_logging() -> None:
    import logging

    from rich.logging import RichHandler

    handler = RichHandler(console=console(stderr=True), show_time=False, show_path=False)
    # zoo's own notes at INFO; other libraries' (JAX's backend probe, say) only from WARNING
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[handler])
    logging.getLogger("zoo").setLevel(logging.INFO)


def at_least(flag: str, value: int | None, minimum: int = 1) -> None:
    """Refuse a count flag below `minimum` in one line (None: not given, nothing to check)."""
    if value is not None and value < minimum:
        raise ZooError(f"{flag} must be at least {minimum}; got {value}")


def add_setting_flags(p: argparse.ArgumentParser, groups: dict[str, str]) -> dict:
    """One flag per setting of `zoo.config.FIELDS` (train, lr-find), in the argument groups
    `groups` titles ({field group: title}); each flag's default is None (not given), so that
    `zoo.config.resolve` sees which were. Returns {field group: the argparse group}."""
    from zoo.config import FIELDS

    made = {key: p.add_argument_group(title) for key, title in groups.items()}
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
        made[f.group].add_argument(f.flag, **kwargs)
    return made


def new_run_config(args):
    """The `zoo.config.Config` of a new run from `add_setting_flags`' flags and `--config`
    (a YAML file, or a run directory: its config.yaml): defaults < the file < flags. With
    `--pretrained RUN` and neither --model nor --config, the model is that run's own."""
    from pathlib import Path

    from zoo.config import FIELDS, resolve
    from zoo.run import RunDir

    flags = {f.name: getattr(args, f.name) for f in FIELDS}
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


def add_crop_flag(p: argparse.ArgumentParser) -> None:
    """`--crop` / `--no-crop` of the commands that read photos for a model (`crop_of`)."""
    p.add_argument("--crop", action=argparse.BooleanOptionalAction,
                   help="resize the shorter side and centre-crop (--crop) or resize to the "
                   "model's size (--no-crop); default: as the model was trained (crop for a "
                   "run of 'zoo train', a plain resize for an ImageNet model or a bare file)")


def crop_of(args, card) -> bool:
    """Whether the photos are centre-cropped: `--crop`/`--no-crop`, else the card's way."""
    return card.crops if args.crop is None else args.crop


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The flags that name a registered model to build at some input (summary, plot)."""
    p.add_argument("--model", required=True, help="a registered name ('zoo models')")
    p.add_argument("--input-shape", type=parse_input_shape, metavar="H,W[,C]",
                   help="input shape (default: the model's own)")
    p.add_argument("--classes", type=int, metavar="N",
                   help="number of classes (default: the model's own)")


def build_model_from_args(args):
    """The model `add_model_args` named, built with random weights (H,W takes the model's own
    channels)."""
    load_keras()
    from zoo.models.registry import build_model, get_spec

    spec = get_spec(args.model)
    shape = args.input_shape
    if shape is not None and len(shape) == 2:
        shape = (*shape, spec.input_shape[-1])
    return build_model(spec.name, input_shape=shape, num_classes=args.classes)
