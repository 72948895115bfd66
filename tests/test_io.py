import json
import os
import stat
import subprocess
import sys

import pytest

from zoo.io import atomic_path, remove_stale_temps, write_json, write_text


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
