"""zoo.errors: the operating system's errors in zoo's words, and each one met for real by the
commands that write (train, build-hdf5, extract, export, predict --output): one line naming
the path and what to do, exit 2 for the user's path and 1 for a failure while running, and
nothing half-written left behind.

The real file systems are small tmpfs mounts (`tests.filesystems`: the tests that need one
skip where `mount` is refused); permission denied is met as the unprivileged user `nobody`,
since root reads and writes through any mode bits.
"""

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests import filesystems
from tests.fixtures import write_folder, write_images
from zoo.errors import (
    EXIT_FAILURE,
    EXIT_USAGE,
    file_in_the_way,
    from_os_error,
    os_error_in,
    os_problem,
)

NOBODY = 65534
full_disk, read_only = filesystems.full_disk, filesystems.read_only


# ---------------------------------------------------------------------------------------------
# the translation


def test_a_file_in_the_way_is_named_with_what_to_do(tmp_path):
    (tmp_path / "file").write_text("mine")
    target = tmp_path / "file" / "run"
    error = from_os_error(NotADirectoryError(errno.ENOTDIR, "Not a directory", str(target)),
                          "write", remedy="choose another --output or --name")
    assert str(error) == (f"cannot write {target}: {tmp_path / 'file'} is a file, not a "
                          "folder (choose another --output or --name)")
    assert error.exit_code == EXIT_USAGE
    # the path itself is the file; mkdir's FileExistsError says the same
    itself = from_os_error(FileExistsError(errno.EEXIST, "File exists", str(tmp_path / "file")),
                           "write")
    assert str(itself) == f"cannot write {tmp_path / 'file'}: it is a file, not a folder " \
                          "(choose another path)"
    assert file_in_the_way(target) == tmp_path / "file" and file_in_the_way(tmp_path) is None


@pytest.mark.parametrize("code, words, exit_code", [
    (errno.EROFS, "read-only file system (choose a folder on a writable disk)", EXIT_USAGE),
    (errno.EACCES, "permission denied (change its permissions or choose another path)",
     EXIT_USAGE),
    (errno.ENAMETOOLONG, "the name is too long (choose a shorter path)", EXIT_USAGE),
    (errno.ENOENT, "no such file or folder (check the path)", EXIT_USAGE),
    (errno.EISDIR, "it is a folder, not a file (give a file name)", EXIT_USAGE),
    (errno.ENOSPC, "no space left on device (free some space, then run it again)",
     EXIT_FAILURE),
    (errno.EDQUOT, "disk quota exceeded (free some space, then run it again)", EXIT_FAILURE),
    (errno.EIO, "input/output error", EXIT_FAILURE),
    (errno.ETIMEDOUT, os.strerror(errno.ETIMEDOUT).lower(), EXIT_FAILURE),
])
def test_each_errno_has_its_words_and_exit_code(code, words, exit_code):
    error = from_os_error(OSError(code, os.strerror(code), "/data/x.h5"), "write")
    assert str(error).startswith(f"cannot write /data/x.h5: {words}")
    assert error.exit_code == exit_code and "\n" not in str(error)


def test_the_remedy_and_what_follows_it():
    full = OSError(errno.ENOSPC, "No space left on device", "/r/metrics.json")
    # a failure while running keeps its own remedy, and says how to go on
    error = from_os_error(full, "write", remedy="choose another -o", then="'zoo evaluate /r' "
                          "writes the report")
    assert str(error) == ("cannot write /r/metrics.json: no space left on device (free some "
                          "space, then 'zoo evaluate /r' writes the report)")
    # a path at fault takes the caller's remedy
    assert str(from_os_error(OSError(errno.EROFS, "", "/r"), "write", remedy="choose another -o")) \
        == "cannot write /r: read-only file system (choose another -o)"
    # without an action or a path: what only a write meets says so, and no file reads as none
    assert str(from_os_error(OSError(errno.ENOSPC, "No space"))) == \
        "cannot write: no space left on device (free some space, then run it again)"
    assert str(from_os_error(OSError(errno.EACCES, "", "/etc/x"))) == \
        "/etc/x: permission denied (change its permissions or choose another path)"
    assert os_problem(full).text == "no space left on device"


def test_a_library_error_that_quotes_the_operating_system():
    hdf5 = RuntimeError("Can't decrement id ref count (file write failed: time = Thu Dec  3, "
                        "filename = '/d/x.h5', file descriptor = 3, errno = 28, error message "
                        "= 'No space left on device')")
    found = os_error_in(hdf5)
    assert found.errno == errno.ENOSPC and found.filename == "/d/x.h5"
    tensorflow = ValueError("{{function_node SaveV2}} /d/variables_temp/part-00000; No space "
                            "left on device [Op:SaveV2]")
    assert os_error_in(tensorflow).errno == errno.ENOSPC
    try:
        try:
            raise PermissionError(errno.EACCES, "Permission denied", "/d/in.png")
        except OSError as exc:
            raise RuntimeError("the loader failed") from exc
    except RuntimeError as chained:
        assert os_error_in(chained).filename == "/d/in.png"
    assert os_error_in(ValueError("File exists in the model: a layer name")) is None
    assert os_error_in(KeyError("x")) is None


def test_main_translates_every_os_error_and_library_error(zoo_cli, monkeypatch):
    import argparse

    import zoo.cli

    def parser_raising(exc):
        parser = argparse.ArgumentParser()
        parser.set_defaults(func=lambda args: (_ for _ in ()).throw(exc))
        return lambda: parser

    cases = [
        (OSError(errno.EIO, "Input/output error", "/mnt/share/x.h5"), EXIT_FAILURE,
         "zoo: error: /mnt/share/x.h5: input/output error (check the disk or the network "
         "share, then run it again)\n"),
        (PermissionError(errno.EACCES, "Permission denied", "/d/c.yaml"), EXIT_USAGE,
         "zoo: error: /d/c.yaml: permission denied (change its permissions or choose another "
         "path)\n"),
        (RuntimeError("file write failed: filename = '/d/x.h5', errno = 28, error message"),
         EXIT_FAILURE,
         "zoo: error: cannot write /d/x.h5: no space left on device (free some space, then "
         "run it again)\n"),
    ]
    # not a file's error: a library's failure, quoted with its type and the --debug hint
    for exc, words in [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
         "ConnectionRefusedError: [Errno 111] Connection refused (run with --debug"),
        (OSError("Unable to synchronously read data (wrong B-tree signature)"),
         "OSError: Unable to synchronously read data (wrong B-tree signature) (run with "
         "--debug"),
    ]:
        cases.append((exc, EXIT_FAILURE, f"zoo: error: {words} for the traceback)\n"))
    for exc, code, line in cases:
        monkeypatch.setattr(zoo.cli, "build_parser", parser_raising(exc))
        result = zoo_cli()
        assert (result.code, result.err) == (code, line)


def test_an_atomic_write_keeps_a_library_error_that_names_no_errno(tmp_path):
    from zoo.io import atomic_path

    with pytest.raises(OSError) as caught, atomic_path(tmp_path / "x.h5"):
        raise OSError("Can't read data (file signature not found)")
    assert str(caught.value) == "Can't read data (file signature not found)"
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# real file systems


def _left(folder: Path) -> list[str]:
    """Everything under `folder` but the filler."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != ".filler")


def _one_line(result, code: int, *words: str) -> None:
    assert result.code == code, result.err
    lines = [line for line in result.err.splitlines() if not line.startswith("zoo: warning:")]
    assert len(lines) == 1 and lines[0].startswith("zoo: error: "), result.err
    for word in words:
        assert word in lines[0], lines[0]
    assert "Errno" not in lines[0] and "--debug" not in lines[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A class folder of 9 small images and one photo to predict."""
    root = tmp_path_factory.mktemp("images")
    write_folder(root / "animals", per_class=3, broken=False)
    write_images(root / "photos", ["a.png"])
    return root


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import keras

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model.save(path)
    return path


def _train(zoo_cli, output, name="r"):
    return zoo_cli("train", "--model", "shallownet", "--dataset", "digits", "--epochs", "1",
                   "--limit", "60", "--output", output, "--name", name)


def test_train_into_a_run_that_is_a_file_or_under_one(zoo_cli, tmp_path):
    (tmp_path / "r").write_text("mine\n")
    result = _train(zoo_cli, tmp_path)
    _one_line(result, EXIT_USAGE, f"cannot write {tmp_path / 'r'}: it is a file, not a "
              "folder (choose another --output or --name)")
    result = _train(zoo_cli, tmp_path / "r" / "sub")
    _one_line(result, EXIT_USAGE, f"{tmp_path / 'r'} is a file, not a folder")
    assert (tmp_path / "r").read_text() == "mine\n" and _left(tmp_path) == ["r"]
    # the name is checked before the data loads: a dataset that is not here (CIFAR-10, whose
    # download fails offline) is never asked for
    result = zoo_cli("train", "--model", "shallownet", "--dataset", "cifar10", "--data-dir",
                     tmp_path / "nothing", "--output", tmp_path, "--name", "r")
    _one_line(result, EXIT_USAGE, f"cannot write {tmp_path / 'r'}: it is a file")


def test_train_on_a_read_only_and_on_a_full_disk(zoo_cli, read_only, full_disk):
    _one_line(_train(zoo_cli, read_only / "runs"), EXIT_USAGE,
              f"{read_only / 'runs' / 'r'}: read-only file system")
    result = _train(zoo_cli, full_disk / "runs")
    assert result.code == EXIT_FAILURE and result.err.count("\n") == 1, result.err
    assert f"no space left on device writing {full_disk / 'runs' / 'r' / 'config.yaml'}; no " \
        "epoch" in result.err and "free some space, then start the run again" in result.err
    assert _left(full_disk) == []  # the run directory it made, and output/, are gone


def test_build_hdf5_under_a_file_read_only_full_and_a_name_too_long(zoo_cli, images, tmp_path,
                                                                    read_only, full_disk):
    def build(output):
        return zoo_cli("build-hdf5", "--dataset", f"folder:{images / 'animals'}",
                       "--image-size", "16,16", "--output", output)

    (tmp_path / "file").write_text("mine\n")
    _one_line(build(tmp_path / "file" / "x.h5"), EXIT_USAGE,
              f"cannot write {tmp_path / 'file' / 'x.h5'}: {tmp_path / 'file'} is a file, not "
              "a folder")
    _one_line(build(read_only / "x.h5"), EXIT_USAGE, f"cannot write {read_only / 'x.h5'}: "
              "read-only file system (choose a folder on a writable disk)")
    _one_line(build(full_disk / "new" / "x.h5"), EXIT_FAILURE,
              f"cannot write {full_disk / 'new' / 'x.h5'}: no space left on device")
    assert _left(full_disk) == []  # no temporary file, no half file, no folder made for it
    long = tmp_path / ("x" * 300 + ".h5")
    _one_line(build(long), EXIT_USAGE, f"{long}: the name is too long (choose a shorter path)")
    assert _left(tmp_path) == ["file", "full", "ro"]


def test_a_full_disk_under_hdf5_exits_with_1_not_a_crash(zoo_subprocess, images, full_disk):
    # HDF5 cannot close a file whose write failed, and crashes the interpreter as it exits
    # (h5py issue 914): only a process of its own shows the exit code the user sees
    result = zoo_subprocess("build-hdf5", "--dataset", f"folder:{images / 'animals'}",
                            "--image-size", "16,16", "--output", full_disk / "x.h5")
    _one_line(result, EXIT_FAILURE, "no space left on device")
    assert _left(full_disk) == []


def test_extract_pixels_into_a_folder_and_onto_a_full_disk(zoo_cli, tmp_path, full_disk):
    def extract(output):
        return zoo_cli("extract", "--model", "pixels", "--dataset", "digits", "--limit", "50",
                       "--output", output)

    (tmp_path / "f.h5").mkdir()
    _one_line(extract(tmp_path / "f.h5"), EXIT_USAGE, "it is a folder, not a file (give a "
              "file name such as features.h5)")
    _one_line(extract(full_disk / "f.h5"), EXIT_FAILURE, "no space left on device")
    assert _left(full_disk) == []


def test_baseline_and_fit_features_onto_a_full_disk_leave_no_run(zoo_cli, tmp_path, full_disk):
    features = tmp_path / "pixels.h5"
    assert zoo_cli("extract", "--model", "pixels", "--dataset", "digits", "--limit", "50",
                   "--output", features).code == 0
    fitted = zoo_cli("fit-features", features, "--classifier", "knn", "--output",
                     full_disk / "runs", "--name", "f")
    baseline = zoo_cli("baseline", "--features", "pixels", "--dataset", "digits", "--limit",
                       "50", "--classifier", "knn", "--output", full_disk / "runs", "--name",
                       "b")
    for result, run in ((fitted, "f"), (baseline, "b")):
        _one_line(result, EXIT_FAILURE, f"cannot write {full_disk / 'runs' / run}",
                  "no space left on device")
    assert _left(full_disk) == []  # neither run directory, nor runs/


def test_export_onto_a_full_disk_and_under_a_file(zoo_cli, tiny_model, tmp_path, full_disk):
    result = zoo_cli("export", tiny_model, "--format", "savedmodel", "-o", full_disk / "m")
    _one_line(result, EXIT_FAILURE, f"cannot write {full_disk / 'm'}: no space left on device")
    assert _left(full_disk) == []
    (tmp_path / "file").write_text("mine\n")
    result = zoo_cli("export", tiny_model, "--format", "savedmodel", "-o",
                     tmp_path / "file" / "m")
    _one_line(result, EXIT_USAGE, f"{tmp_path / 'file'} is a file, not a folder (choose "
              "another -o)")


def test_predict_output_under_a_file_and_onto_a_full_disk(zoo_cli, images, tiny_model,
                                                          tmp_path, full_disk):
    def predict(output):
        return zoo_cli("predict", "--image", images / "photos" / "a.png", "--model",
                       tiny_model, "--output", output)

    (tmp_path / "file").write_text("mine\n")
    _one_line(predict(tmp_path / "file"), EXIT_USAGE,
              f"{tmp_path / 'file'} is a file, not a folder (choose another --output)")
    _one_line(predict(full_disk / "annotated"), EXIT_FAILURE, "no space left on device")
    assert _left(full_disk) == []  # not even the folder it made for the copies


# ---------------------------------------------------------------------------------------------
# permission denied: root passes every mode bit, so the command runs as `nobody`


@contextlib.contextmanager
def _as_nobody():
    if os.geteuid() != 0:
        yield  # mode bits already stop an unprivileged user
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared():
    """A folder that `nobody` can reach (pytest's own are root's alone)."""
    if not hasattr(os, "seteuid"):
        pytest.skip("no seteuid on this platform")
    folder = Path(tempfile.mkdtemp(prefix="zoo-errors-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_permission_denied_reading_inputs_and_writing_a_file(zoo_cli, images, shared):
    import h5py  # noqa: F401  (imported as root: nobody may not write its caches)

    import zoo.data.hdf5build  # noqa: F401

    config = shared / "locked.yaml"
    config.write_text("epochs: 1\n")
    config.chmod(0o000)
    locked = shared / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    animals = shared / "animals"
    shutil.copytree(images / "animals", animals)
    for path in [animals, *animals.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    unreadable = shared / "features.h5"  # h5py opens it before it reads a byte
    unreadable.write_bytes(b"\x89HDF\r\n\x1a\n")
    unreadable.chmod(0o000)
    with _as_nobody():
        read = zoo_cli("train", "--config", config)
        write = zoo_cli("build-hdf5", "--dataset", f"folder:{animals}", "--image-size",
                        "16,16", "--output", locked / "x.h5")
        features = zoo_cli("fit-features", unreadable, "--classifier", "knn")
        dataset = zoo_cli("train", "--model", "shallownet", "--dataset", f"hdf5:{unreadable}",
                          "--output", shared / "runs")
    assert read.code == EXIT_USAGE and read.err == (
        f"zoo: error: {config}: permission denied (change its permissions or choose another "
        "path)\n")
    _one_line(write, EXIT_USAGE, f"cannot write {locked / 'x.h5'}: permission denied")
    assert list(locked.iterdir()) == []
    for result in (features, dataset):
        _one_line(result, EXIT_USAGE, f"cannot read {unreadable}: permission denied")
    assert not (shared / "runs").exists()


def test_an_input_output_error_while_training_is_a_failure_and_leaves_no_run(zoo_cli, tmp_path,
                                                                             monkeypatch):
    import zoo.run

    def lost(path, text):  # the disk went away as the run began (EIO needs a failing device)
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(zoo.run, "write_text", lost)
    result = _train(zoo_cli, tmp_path / "runs")
    assert result.code == EXIT_FAILURE and result.err.count("\n") == 1, result.err
    assert f"input/output error writing {tmp_path / 'runs' / 'r' / 'config.yaml'}; no epoch" \
        in result.err and "check the disk or the network share, then start the run " \
        "again" in result.err
    assert not (tmp_path / "runs").exists()
