"""Atomic file writes: a temporary file beside the target, renamed over it when complete.

Killing the process at any moment leaves either the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

# Exclusive creation, never through a symbolic link, not inherited by child processes.
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_CREATE |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _create_temp(path: Path) -> tuple[Path, int]:
    """Create an empty temporary file beside `path`; return it and its mode.

    It is created asking for mode 0666, as `open(path, "w")` does, so the kernel applies
    the process's umask (and the directory's default ACL) itself: its mode is the usual
    mode of a new file there. Reading the umask with `os.umask` would have to set it, for
    a moment, for every thread of the process.
    """
    def create(tmp: Path) -> int:
        fd = os.open(tmp, _CREATE, 0o666)
        try:
            return stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)

    return _fresh(path, create)


def _fresh(path: Path, create) -> tuple[Path, object]:
    """A new temporary name beside `path`, made by `create(name)` (which raises
    FileExistsError when the name is taken); the name and what `create` returned."""
    for _ in range(100):
        # 8 characters from [0-9a-f], a name that `remove_stale_temps` recognises;
        # `secrets` leaves the (possibly seeded) `random` module's state alone.
        tmp = path.parent / f".{path.stem}.{secrets.token_hex(4)}{path.suffix}"
        try:
            return tmp, create(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def is_disk_full(exc: OSError) -> bool:
    """Whether `exc` says the disk (or the user's quota) is full."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path with the same suffix as `path`; rename it to `path` on success.

    The file gets the usual mode of a new file (`0666` less the umask), whatever the writer
    did to the temporary file (some writers replace it with a file of their own).

    Args:
        path: the file to write.

    Yields:
        The temporary `Path` to write, beside `path` (so the rename is atomic).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, mode = _create_temp(path)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        if is_disk_full(exc) and exc.filename in (None, str(tmp)):
            # name the file the user knows, not our temporary one
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """`atomic_path` for a directory: yield a new empty directory beside `path` (mode 0777
    less the umask, as `mkdir` makes) and, on success, put it in `path`'s place. An old
    `path` is removed only once the new one is there (and put back if that rename fails);
    on an exception nothing is left but what `path` was."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, _ = _fresh(path, lambda p: p.mkdir(0o777))
    try:
        yield tmp
        old = None
        if path.exists():
            old, _ = _fresh(path, _unused)
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            if old is not None:
                os.replace(old, path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _unused(path: Path) -> None:
    if path.exists():
        raise FileExistsError(path)


_TEMP_NAME = re.compile(r"^\.[^/]+\.[a-z0-9_]{8}(\.[A-Za-z0-9]+)?$")  # what atomic_path makes


def remove_stale_temps(directory: str | Path) -> int:
    """Delete the temporary files that a killed process left in `directory` (not below it);
    return how many there were."""
    stale = [p for p in Path(directory).glob(".*") if p.is_file() and _TEMP_NAME.match(p.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_skipped_list(path: str | Path, skipped: dict[str, str]) -> None:
    """The complete list of skipped input files, atomically: a `#` header, then one
    `path<TAB>reason` line each, sorted by path."""
    lines = [f"# {len(skipped)} skipped input files: path<TAB>reason"]
    lines += [f"{file}\t{reason}" for file, reason in sorted(skipped.items())]
    write_text(path, "\n".join(lines) + "\n")


def read_skipped_list(path: str | Path) -> dict[str, str]:
    """{path: reason} of a list `write_skipped_list` wrote; empty when there is none."""
    path = Path(path)
    if not path.is_file():
        return {}
    skipped = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            file, _, reason = line.partition("\t")
            skipped[file] = reason
    return skipped
