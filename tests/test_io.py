import errno
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from tests import filesystems
from zoo.io import (
    atomic_dir,
    atomic_hdf5,
    atomic_path,
    make_dirs,
    remove_empty,
    remove_stale_temps,
    write_json,
    write_text,
)


def _run(code: str, cwd) -> str:
    """Run `code` in a fresh interpreter (the umask is the whole process's) and return stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="file modes and the umask are POSIX")
@pytest.mark.parametrize(
    "umask, expected",
    [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)],
    ids=["umask022", "umask077", "umask002"],
)
@pytest.mark.parametrize("when", ["before-import", "after-import"])
def test_atomic_files_get_the_usual_mode_under_the_umask(tmp_path, umask, expected, when):
    # The umask may be set before zoo.io is imported or any time later; both count.
    set_umask = f"os.umask({umask:#o})"
    code = "\n".join(
        [
            "import os, stat",
            set_umask if when == "before-import" else "",
            "from zoo.io import write_text",
            set_umask if when == "after-import" else "",
            "write_text('sub/out.txt', 'x')",
            "open('plain.txt', 'w').close()",
            "print(oct(stat.S_IMODE(os.stat('sub/out.txt').st_mode)),"
            " oct(stat.S_IMODE(os.stat('plain.txt').st_mode)))",
        ]
    )
    atomic, plain = _run(code, tmp_path).split()
    assert atomic == plain == oct(expected)


def test_importing_and_writing_never_touch_the_umask(tmp_path):
    # os.umask sets the umask to read it: for a moment every thread of the process would
    # create files with mode 0666. zoo.io must never call it.
    code = "\n".join(
        [
            "import os",
            "def refuse(*args):",
            "    raise AssertionError('os.umask called')",
            "os.umask = refuse",
            "from zoo.io import write_json",
            "write_json('out.json', {'a': 1})",
            "print(open('out.json').read())",
        ]
    )
    assert json.loads(_run(code, tmp_path)) == {"a": 1}


@pytest.mark.skipif(os.name != "posix", reason="file modes and the umask are POSIX")
def test_a_writer_that_replaces_the_temporary_file_still_gives_the_usual_mode(tmp_path):
    (tmp_path / "plain").touch()
    with atomic_path(tmp_path / "model.keras") as tmp:
        # Like a library that writes its own 0600 temporary file and renames it over ours.
        other = tmp_path / "other"
        other.write_text("data")
        os.chmod(other, 0o600)
        os.replace(other, tmp)
    assert _mode(tmp_path / "model.keras") == _mode(tmp_path / "plain")
    assert (tmp_path / "model.keras").read_text() == "data"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    write_text(tmp_path / "history.json", "old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "history.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert (tmp_path / "history.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json"]


def test_temporary_names_keep_the_suffix_and_are_what_remove_stale_temps_removes(tmp_path):
    with atomic_path(tmp_path / "checkpoint" / "state.json") as tmp:
        assert tmp.parent == tmp_path / "checkpoint"
        assert tmp.suffix == ".json" and tmp.name.startswith(".state.")
        assert tmp.exists()
        leftover = tmp.with_name(tmp.name.replace(".state.", ".history."))
        leftover.write_text("half")  # what a killed write leaves
    (tmp_path / "checkpoint" / ".notes").write_text("mine")
    assert remove_stale_temps(tmp_path / "checkpoint") == 1
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == [".notes", "state.json"]


def test_write_json_is_readable_json(tmp_path):
    write_json(tmp_path / "metrics.json", {"accuracy": 0.5})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"accuracy": 0.5}


# ---------------------------------------------------------------------------------------------
# failures: the user's path named, nothing left behind

full_disk = filesystems.full_disk


def test_a_failed_write_takes_back_the_folders_it_made_and_names_the_users_path(tmp_path):
    (tmp_path / "mine").mkdir()
    target = tmp_path / "mine" / "new" / "deeper" / "x.png"
    with pytest.raises(OSError) as caught, atomic_path(target) as tmp:
        (tmp.parent / "empty").mkdir()  # a folder the writer made, left empty
        raise OSError(errno.ENOSPC, "No space left on device")  # a failed write names no file
    assert caught.value.filename == str(target) and caught.value.errno == errno.ENOSPC
    assert caught.value.action == "write"  # what zoo.errors.from_os_error says it was doing
    assert list(tmp_path.rglob("*")) == [tmp_path / "mine"]  # the user's folder stays
    # another file's error is left as it is
    with pytest.raises(FileNotFoundError) as caught, atomic_path(target):
        open(tmp_path / "input.png", "rb")
    assert caught.value.filename == str(tmp_path / "input.png")


def test_a_temporary_folder_and_a_file_in_the_way(tmp_path):
    (tmp_path / "file").write_text("mine")
    with pytest.raises(NotADirectoryError) as caught, atomic_dir(tmp_path / "file" / "m"):
        pass
    assert caught.value.filename == str(tmp_path / "file" / "m")
    with pytest.raises(NotADirectoryError) as caught:
        make_dirs(tmp_path / "file" / "a" / "b")
    assert caught.value.filename == str(tmp_path / "file" / "a" / "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    made = make_dirs(tmp_path / "a" / "b")
    assert made == [tmp_path / "a", tmp_path / "a" / "b"] and make_dirs(tmp_path / "a") == []
    (tmp_path / "a" / "kept.txt").write_text("x")
    remove_empty(made)  # b holds nothing; a holds a file, so it stays
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["kept.txt"]


def test_an_hdf5_file_written_through_the_guard_reads_back(tmp_path):
    import h5py

    with atomic_hdf5(tmp_path / "x.h5") as (f, check):
        f.create_dataset("x", data=np.arange(10))
        check()
    with h5py.File(tmp_path / "x.h5") as f:
        assert f["x"][:].tolist() == list(range(10))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5"]


_FULL_HDF5 = """
import sys
import numpy as np
from zoo.io import atomic_hdf5
try:
    with atomic_hdf5(sys.argv[1]) as (f, check):
        images = f.create_dataset("images", (0, 64, 64), "uint8", maxshape=(None, 64, 64),
                                  chunks=(16, 64, 64))
        for start in range(0, 4096, 16):
            images.resize(start + 16, axis=0)
            images[start:] = np.full((16, 64, 64), 7, "uint8")
            check()
except OSError as exc:
    print(exc.errno, exc.filename)
"""


def test_a_full_disk_under_hdf5_raises_and_the_interpreter_exits_cleanly(tmp_path, full_disk):
    # h5py issue 914: after a failed write HDF5 cannot close the file, and the interpreter
    # crashes as it exits; only a process of its own shows its exit code
    target = full_disk / "x.h5"
    proc = subprocess.run([sys.executable, "-c", _FULL_HDF5, str(target)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(errno.ENOSPC), str(target)]
    assert [p.name for p in full_disk.iterdir()] == [".filler"]


def test_after_a_failed_write_hdf5_reads_back_what_it_wrote(full_disk):
    from zoo.io import _GuardedFile

    (full_disk / "x.h5").touch()
    guarded = _GuardedFile(full_disk / "x.h5")
    try:
        guarded.seek(100)
        assert guarded.write(b"superblock") == 10  # failed on the disk, kept in memory
        guarded.seek(104)
        guarded.write(b"BLOCK")
        assert guarded.seek(0, os.SEEK_END) == 110
        buffer = bytearray(20)
        guarded.seek(96)
        assert guarded.readinto(buffer) == 14 and bytes(buffer[:14]) == b"\0" * 4 + b"supeBLOCKk"
        with pytest.raises(OSError) as caught:
            guarded.check()
        assert caught.value.errno == errno.ENOSPC
    finally:
        guarded.close()
