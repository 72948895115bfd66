"""What the command modules share: the parser classes, the consoles, logging, quiet imports,
and the choices that several commands take (declared once here)."""

from __future__ import annotations

import argparse
import sys

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
