"""User-facing errors and the exit codes of the command line.

A `ZooError` is something the user can fix: its message is printed as one line,
`zoo: error: MESSAGE`, and the process exits with `exit_code` (2 for usage and
input errors, 1 for failures while running).
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class ZooError(Exception):
    """An error whose message is meant for the user, without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.exit_code = exit_code


class ZooRuntimeError(ZooError):
    """A failure while running (exit code 1), e.g. weights that cannot be downloaded."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=EXIT_FAILURE)


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of `exc`'s message, at most `limit` characters (its type's name when
    it has no message): how a library's exception is quoted in a one-line error."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
