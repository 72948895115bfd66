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
