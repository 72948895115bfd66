"""`zoo train`: bad flags and settings are one line, exit 2, and write nothing."""

import pytest


@pytest.mark.parametrize("argv, needle", [
    (["train", "--model", "lenet", "--epochs", "0"], "epochs must be at least 1"),
    (["train", "--model", "lenet", "--optimizer", "sgdd"], "invalid choice"),
    (["train", "--model", "lenet", "--dataset", "imagenet21k"], "unknown dataset"),
    (["train", "--model", "lenet5", "--dataset", "digits"], "--image-size 32,32"),
    (["train", "--model", "lenet", "--config", "missing.yaml"], "config file not found"),
    (["train", "--dataset", "digits"], "no model given"),
    (["train", "--model", "lenet", "--dataset", "folder:/no/such/dir"], "no such directory"),
])
def test_bad_input_is_one_line_and_exit_2(zoo_cli, tmp_path, argv, needle):
    result = zoo_cli(*argv, "--output", tmp_path)
    assert result.code == 2, result.err
    assert needle in result.err and result.err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # nothing half-written
