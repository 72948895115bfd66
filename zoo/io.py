"""Atomic file writes: a temporary file beside the target, renamed over it when complete.

Killing the process at any moment leaves either the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

# Exclusive creation, never through a symbolic link, not inherited by child processes.
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_CREATE |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _create_temp(tmp: Path) -> int:
    """Create the empty temporary file `tmp` (`FileExistsError` when the name is taken);
    return its mode.

    It is created asking for mode 0666, as `open(path, "w")` does, so the kernel applies
    the process's umask (and the directory's default ACL) itself: its mode is the usual
    mode of a new file there. Reading the umask with `os.umask` would have to set it, for
    a moment, for every thread of the process.
    """
    fd = os.open(tmp, _CREATE, 0o666)
    try:
        return stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


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


def make_dirs(folder: str | Path) -> list[Path]:
    """Create `folder` and its missing parents, as `mkdir -p` does; return the folders made,
    outermost first (what `remove_empty` may take back).

    Raises:
        NotADirectoryError: naming `folder`, when a file stands where a folder must be.
    """
    folder = Path(folder)
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    made: list[Path] = []
    try:
        for candidate in reversed(missing):
            try:
                candidate.mkdir()
            except FileExistsError:
                if candidate.is_dir():  # made meanwhile by another process
                    continue
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR),
                                         str(folder)) from None
            except NotADirectoryError:
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR),
                                         str(folder)) from None
            made.append(candidate)
    except OSError:
        remove_empty(made)
        raise
    return made


def remove_empty(made: list[Path]) -> None:
    """Take back the folders `make_dirs` made (outermost first) that hold nothing but empty
    folders: what a command that failed before writing anything leaves no trace of."""
    for folder in reversed(made):
        if not folder.is_dir():
            continue
        for below, _, _ in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
            with contextlib.suppress(OSError):
                os.rmdir(below)
        if folder.exists():
            return  # it holds a file: so do the folders around it


def _as_users(exc: OSError, path: Path, tmp: Path | None) -> OSError | None:
    """`exc` naming `path`, the file the user knows, in place of our temporary `tmp` (or what
    is in it), of the folder made for it, or of no file at all (a failed `write` names none);
    None when `exc` is about another file."""
    if exc.errno is None:  # a library's OSError with only a message (h5py's): keep it whole
        return None
    named = exc.filename
    if named is None or named == str(path.parent) or _is_temp_of(Path(named), path):
        return type(exc)(exc.errno, exc.strerror, str(path))
    if tmp is not None and named.startswith(f"{tmp}{os.sep}"):
        return type(exc)(exc.errno, exc.strerror, str(path) + named[len(str(tmp)):])
    return None


def _is_temp_of(candidate: Path, path: Path) -> bool:
    """Whether `candidate` is a temporary name `_fresh` gives for `path`."""
    name = rf"\.{re.escape(path.stem)}\.[0-9a-f]{{8}}{re.escape(path.suffix)}"
    return candidate.parent == path.parent and re.fullmatch(name, candidate.name) is not None


@contextlib.contextmanager
def _beside(path: Path, create, commit, discard) -> Iterator[Path]:
    """The temporary name beside `path` that `create(name)` makes, yielded; then
    `commit(name, what create returned)`, and `discard(name)` whatever happens. A failure
    leaves no folder that was made for it, and names `path` (`_as_users`)."""
    made, tmp = [], None
    try:
        made = make_dirs(path.parent)
        tmp, created = _fresh(path, create)
        yield tmp
        commit(tmp, created)
        made = []
    except OSError as exc:
        renamed = _as_users(exc, path, tmp)
        if renamed is None:
            raise
        renamed.action = "write"  # what `zoo.errors.from_os_error` says it was doing
        raise renamed from exc
    finally:
        if tmp is not None:
            discard(tmp)
        remove_empty(made)


def atomic_path(path: str | Path) -> contextlib.AbstractContextManager[Path]:
    """Yield a temporary path with the same suffix as `path`; rename it to `path` on success.

    The file gets the usual mode of a new file (`0666` less the umask), whatever the writer
    did to the temporary file (some writers replace it with a file of their own). On failure
    nothing is left (neither the temporary file nor the folders made for it), and an
    `OSError` names `path`, not the temporary file.

    Args:
        path: the file to write.

    Returns:
        A context manager yielding the temporary `Path` to write, beside `path` (so the
        rename is atomic).
    """
    def commit(tmp: Path, mode: int) -> None:
        os.chmod(tmp, mode)
        os.replace(tmp, path)

    path = Path(path)
    return _beside(path, _create_temp, commit, lambda tmp: tmp.unlink(missing_ok=True))


def atomic_dir(path: str | Path) -> contextlib.AbstractContextManager[Path]:
    """`atomic_path` for a directory: yield a new empty directory beside `path` (mode 0777
    less the umask, as `mkdir` makes) and, on success, put it in `path`'s place. An old
    `path` is removed only once the new one is there (and put back if that rename fails);
    on an exception nothing is left but what `path` was."""
    import shutil

    def commit(tmp: Path, _) -> None:
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

    path = Path(path)
    return _beside(path, lambda tmp: tmp.mkdir(0o777), commit,
                   lambda tmp: shutil.rmtree(tmp, ignore_errors=True))


class _GuardedFile(io.RawIOBase):
    """The file HDF5 writes through (h5py's file-object driver), keeping a write error for
    `check` instead of showing it to HDF5: after a failed write HDF5 can no longer close the
    file, and the interpreter crashes as it exits (h5py issue 914, a full disk). From the
    failed write on, writes are kept in memory, where reads find them (HDF5 reads back what
    it wrote), so HDF5 goes on, and closes, as if the file were whole; `check` raises the
    error at the caller's next step, so little is kept."""

    def __init__(self, path: Path):
        super().__init__()
        self._fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
                           | getattr(os, "O_BINARY", 0))
        self._pos = 0
        self.error: OSError | None = None
        self._kept: list[tuple[int, bytes]] = []  # (offset, bytes) written since the error
        self._size = 0  # the size HDF5 believes the file has, since the error

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            offset += self._size if self.error else os.fstat(self._fd).st_size
        elif whence == os.SEEK_CUR:
            offset += self._pos
        self._pos = offset
        return offset

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        start, want = self._pos, len(view)
        if self.error is not None:
            want = max(0, min(want, self._size - start))
        data = bytearray(os.pread(self._fd, want, start))
        if self.error is not None:
            data.extend(bytes(want - len(data)))
            for offset, kept in self._kept:  # in the order written: the last write wins
                lo, hi = max(start, offset), min(start + want, offset + len(kept))
                if lo < hi:
                    data[lo - start : hi - start] = kept[lo - offset : hi - offset]
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def write(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):
                    done += os.pwrite(self._fd, view[done:], self._pos + done)
            except OSError as exc:
                self.error = exc
                self._size = os.fstat(self._fd).st_size
        if self.error is not None:
            self._kept.append((self._pos, bytes(view)))
            self._size = max(self._size, self._pos + len(view))
        self._pos += len(view)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                self.error = exc
        self._size = size
        return size

    def flush(self) -> None:  # every write is the operating system's already
        pass

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
            self._kept.clear()
        super().close()

    def check(self) -> None:
        """Raise the first write error, if there was one."""
        if self.error is not None:
            raise self.error


@contextlib.contextmanager
def atomic_hdf5(path: str | Path) -> Iterator[tuple[object, Callable[[], None]]]:
    """`atomic_path` for an HDF5 file: yield the open `h5py.File` and `check`, a function
    that raises the first write error (a full disk) so that a long write stops early; the
    file appears at `path` once it is closed whole, and a failed write leaves nothing.

    HDF5 itself never sees a write error (`_GuardedFile`): it cannot survive one.
    """
    import h5py

    with atomic_path(path) as tmp:
        guarded = _GuardedFile(tmp)
        try:
            with h5py.File(guarded, "w") as f:
                yield f, guarded.check
            guarded.check()
        finally:
            guarded.close()


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
