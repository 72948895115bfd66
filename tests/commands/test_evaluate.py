"""`zoo evaluate`: one RUN_DIR or --ensemble, refused in one line before Keras works."""

import pytest


@pytest.mark.parametrize("argv, message", [
    (["a", "--ensemble", "b", "c"], "give one RUN_DIR, or --ensemble RUN_DIR RUN_DIR ..., "
     "not both"),
    ([], "give a RUN_DIR to evaluate, or --ensemble RUN_DIR RUN_DIR ..."),
    (["a", "--output", "o"], "--output is for --ensemble"),
    (["--split", "train", "a"], "invalid choice: 'train'"),
], ids=["both", "neither", "output-without-ensemble", "bad-split"])
def test_bad_arguments_are_one_line_exit_2(zoo_cli, argv, message):
    result = zoo_cli("evaluate", *argv)
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and message in result.err


def test_an_ensemble_member_that_is_no_run_fails_before_keras(zoo_cli, tmp_path, monkeypatch):
    import zoo.commands.evaluate as evaluate

    monkeypatch.setattr(evaluate, "load_keras", lambda: pytest.fail("Keras loaded"))
    result = zoo_cli("evaluate", "--ensemble", tmp_path / "absent", tmp_path / "gone")
    assert result.code == 2 and result.err.count("\n") == 1 and "absent" in result.err
