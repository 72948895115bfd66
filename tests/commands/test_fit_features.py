"""`zoo fit-features`: its flags, refused in one line."""


def test_an_unknown_classifier_is_one_line_exit_2(zoo_cli, tmp_path):
    result = zoo_cli("fit-features", tmp_path / "f.h5", "--classifier", "svm")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "invalid choice: 'svm'" in result.err and "logreg" in result.err
