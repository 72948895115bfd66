"""The `zoo` command line: the entry point only.

`build_parser` makes the top-level parser and adds every command of `zoo.commands.COMMANDS`
(each module's `add_parser`, in help order); `main` runs the chosen command and maps its
errors to one line and an exit code. Neither this module nor any command module imports
anything heavy at import time: `zoo --help` loads neither numpy nor Keras. Each command
imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from zoo import __version__
from zoo.commands import COMMANDS
from zoo.commands._common import Formatter as _Formatter
from zoo.commands._common import Parser as _Parser
from zoo.errors import EXIT_FAILURE, ZooError


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="zoo",
        description="A Keras model zoo and training CLI: build, train, compare and run classic "
        "image classifiers.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in COMMANDS:
        importlib.import_module(f"zoo.commands.{module}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except ZooError as exc:
        if debug:
            raise
        print(f"zoo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `zoo models | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: one line, the traceback behind --debug
        if debug:
            raise
        from zoo.errors import from_os_error, os_error_in

        # the operating system's errors (or a library's that quotes one), in zoo's words
        os_error = os_error_in(exc)
        if os_error is not None:
            error = from_os_error(os_error)
            print(f"zoo: error: {error}", file=sys.stderr)
            return error.exit_code
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"zoo: error: {type(exc).__name__}: {message} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
