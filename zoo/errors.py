"""User-facing errors and the exit codes of the command line.

A `ZooError` is something the user can fix: its message is printed as one line,
`zoo: error: MESSAGE`, and the process exits with `exit_code` (2 for usage and
input errors, 1 for failures while running). `from_os_error` says what an `OSError` means,
in those words: the one translation of the operating system's errors.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import NamedTuple

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


# ---------------------------------------------------------------------------------------------
# the operating system's errors, in zoo's words


class OSProblem(NamedTuple):
    """What an `OSError` means to the user: the problem, what to do, and the exit code."""

    text: str
    remedy: str
    exit_code: int


# errno: (the problem, what to do, exit code). Exit 2: the user's path is wrong and another
# path (or a permission) mends it; exit 1: the command failed while running, and running it
# again once the machine is mended succeeds.
_PROBLEMS = {
    errno.ENOSPC: ("no space left on device", "free some space", EXIT_FAILURE),
    errno.EDQUOT: ("disk quota exceeded", "free some space", EXIT_FAILURE),
    errno.EFBIG: ("the file is too large for its file system", "choose a folder on another disk",
                  EXIT_FAILURE),
    errno.EIO: ("input/output error", "check the disk or the network share", EXIT_FAILURE),
    errno.EMFILE: ("too many open files", "raise the limit ('ulimit -n')", EXIT_FAILURE),
    errno.ENFILE: ("too many open files", "raise the limit ('ulimit -n')", EXIT_FAILURE),
    errno.EROFS: ("read-only file system", "choose a folder on a writable disk", EXIT_USAGE),
    errno.EACCES: ("permission denied", "change its permissions or choose another path",
                   EXIT_USAGE),
    errno.EPERM: ("operation not permitted", "change its permissions or choose another path",
                  EXIT_USAGE),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path", EXIT_USAGE),
    errno.ENOENT: ("no such file or folder", "check the path", EXIT_USAGE),
    errno.EISDIR: ("it is a folder, not a file", "give a file name", EXIT_USAGE),
    errno.ELOOP: ("too many levels of symbolic links", "check the links in the path",
                  EXIT_USAGE),
    errno.EEXIST: ("it already exists", "choose another path", EXIT_USAGE),
}
# the errors a library may quote by their text alone (not "File exists": a model's own words)
_QUOTED = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO, errno.EFBIG,
           errno.ENAMETOOLONG)
_ONLY_WRITING = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
_IS_A_FILE = "a file, not a folder", "choose another path"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: OSError) -> bool:
    """Whether `exc` says the disk (or the user's quota) is full."""
    return exc.errno in _DISK_FULL


def os_problem(exc: OSError, path: str | os.PathLike | None = None) -> OSProblem:
    """What `exc` means, in zoo's words, for the user's `path` (default: the file it names).

    A path through a file (`NotADirectoryError`, or `FileExistsError` where a folder was to
    be made) names the file that is in the way."""
    path = Path(path if path is not None else exc.filename or "")
    if exc.errno == errno.ENOTDIR or (exc.errno == errno.EEXIST and _file_in_the_way(exc)):
        blocker = file_in_the_way(Path(exc.filename) if exc.filename else path)
        if blocker is None or blocker == path:
            return OSProblem(f"it is {_IS_A_FILE[0]}", _IS_A_FILE[1], EXIT_USAGE)
        return OSProblem(f"{blocker} is {_IS_A_FILE[0]}", _IS_A_FILE[1], EXIT_USAGE)
    if exc.errno in _PROBLEMS:
        return OSProblem(*_PROBLEMS[exc.errno])
    text = (exc.strerror or first_line(exc)).lower()
    return OSProblem(text, "check the disk", EXIT_FAILURE)


def from_os_error(exc: OSError, action: str | None = None,
                  path: str | os.PathLike | None = None, *, remedy: str | None = None,
                  then: str | None = None) -> ZooError:
    """The one-line `ZooError` for `exc`: `cannot ACTION PATH: PROBLEM (REMEDY)`.

    Args:
        exc: the operating system's error.
        action: what was being done, `"write"` or `"read"`. Defaults to the `action` that
            `exc` carries (`zoo.io`'s atomic writes mark theirs `"write"`), else `None` (the
            message starts with the path, unless only a write meets such an error).
        path: the path the user gave. Defaults to `None` (the file `exc` names).
        remedy: what to do when the user's path is at fault (exit code 2), in place of the
            errno's own advice ("choose another path"); a failure while running keeps its own
            ("free some space").
        then: what follows the remedy for a failure while running. Defaults to `None`
            ("run it again").

    Returns:
        A `ZooError` with exit code 2 for the user's path (a file in the way, permission
        denied, a read-only file system, a name too long, no such file) and 1 for a failure
        while running (a full disk, an input/output error).
    """
    problem = os_problem(exc, path)
    action = action or getattr(exc, "action", None)
    if action is None and exc.errno in _ONLY_WRITING:
        action = "write"
    where = path if path is not None else exc.filename
    if where:
        head = f"cannot {action} {where}" if action else str(where)
    else:
        head = f"cannot {action}" if action else ""
    advice = remedy if remedy and problem.exit_code == EXIT_USAGE else problem.remedy
    if then or problem.exit_code == EXIT_FAILURE:
        advice = f"{advice}, then {then or 'run it again'}"
    message = f"{problem.text} ({advice})"
    return ZooError(f"{head}: {message}" if head else message, exit_code=problem.exit_code)


def os_error_in(exc: BaseException) -> OSError | None:
    """The operating system's error behind a library's exception, or None.

    `exc` itself or one it was raised from, else one its message names: HDF5 writes
    `errno = 28`, TensorFlow's file errors say `No space left on device`. Only a file's or a
    folder's errors (those zoo has words for): a refused connection or an OSError with only
    a message stays a library's failure, quoted as it is."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and _has_words(exc.errno):
            return exc
        text = str(exc)
        found = re.search(r"\berrno\s*=\s*(\d+)|\[Errno (\d+)\]", text)
        code = int(found.group(1) or found.group(2)) if found else None
        if code is None:
            code = next((c for c in _QUOTED if os.strerror(c) in text), None)
        if _has_words(code):
            named = re.search(r"\bfilename = '([^']+)'", text)  # HDF5's
            return OSError(code, os.strerror(code), named.group(1) if named else None)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return None


def _has_words(code: int | None) -> bool:
    """Whether errno `code` is one `os_problem` words (a file's or a folder's error)."""
    return code in _PROBLEMS or code == errno.ENOTDIR


def _file_in_the_way(exc: OSError) -> bool:
    return bool(exc.filename) and os.path.lexists(exc.filename) and \
        not os.path.isdir(exc.filename)


def file_in_the_way(path: str | os.PathLike) -> Path | None:
    """`path` or the nearest of its parents that exists and is not a folder: the file that
    stops `path` from being (or being made) a folder; None when there is none."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return None if os.path.isdir(candidate) else candidate
    return None
