"""Real small file systems for the tests of write errors: a full disk and a read-only one,
tmpfs mounts made by the test (root, where `mount` is allowed; the tests skip elsewhere)."""

import contextlib
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted(folder: Path, options: str):
    folder.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                       check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc}); run the tests as root where mount "
                    "is allowed")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, timeout=30)


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a 64 KiB file system that a filler file fills to the last byte."""
    with mounted(tmp_path / "full", "size=64k") as folder:
        with open(folder / ".filler", "wb", buffering=0) as filler:
            with contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * 4096)
        yield folder


@pytest.fixture
def read_only(tmp_path):
    with mounted(tmp_path / "ro", "ro,size=64k") as folder:
        yield folder
