"""`zoo build-hdf5`: what it refuses, in one line, before decoding anything."""

import pytest


def test_the_command_line_refuses_what_is_not_a_folder_in_one_line(tmp_path, zoo_cli):
    result = zoo_cli("build-hdf5", "--dataset", "cifar10", "--output", tmp_path / "x.h5")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "--dataset folder:PATH" in result.err and not (tmp_path / "x.h5").exists()
    result = zoo_cli("build-hdf5", "--dataset", f"folder:{tmp_path / 'absent'}", "--output",
                     tmp_path / "x.h5")
    assert result.code == 2 and "no such directory" in result.err


@pytest.mark.parametrize("argv, message", [
    (["--image-size", "16"], "bad --image-size '16': expected H,W like 32,32"),
    (["--image-size", "16,16,3"], "bad --image-size '16,16,3': expected H,W"),
    (["--workers", "0"], "--workers must be at least 1; got 0"),
], ids=["one-number", "three-numbers", "no-workers"])
def test_bad_flags_are_one_line_exit_2(zoo_cli, tmp_path, argv, message):
    result = zoo_cli("build-hdf5", "--dataset", f"folder:{tmp_path}", "--output",
                     tmp_path / "x.h5", *argv)
    assert result.code == 2 and result.err.count("\n") == 1 and message in result.err
    assert not (tmp_path / "x.h5").exists()
