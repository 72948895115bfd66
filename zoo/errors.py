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
