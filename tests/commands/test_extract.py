"""`zoo extract`: the extractor's flags and the output file are checked in one line."""

import pytest


@pytest.mark.parametrize("argv, message", [
    (["--model", "hog", "--layer", "x"], "--layer applies to CNN extractors"),
    (["--model", "hog", "--pooling", "max"], "--pooling applies to CNN extractors"),
    (["--model", "lenet"], "lenet has no ImageNet weights"),
    (["--model", "hogg"], "unknown extractor 'hogg'; did you mean hog"),
    (["--model", "siftbovw"], "unknown extractor 'siftbovw'; did you mean sift-bovw"),
    (["--model", "sift-bovw", "--pooling", "max"], "--pooling applies to CNN extractors, not "
     "to sift-bovw"),
    (["--model", "orb-bovw", "--layer", "x"], "--layer applies to CNN extractors, not to "
     "orb-bovw"),
    (["--model", "lbp", "--tfidf"], "--tfidf applies to bags of visual words"),
    (["--model", "hu", "--dense"], "--dense applies to bags of visual words"),
])
def test_bad_extractor_arguments_are_one_line(zoo_cli, tmp_path, argv, message):
    result = zoo_cli("extract", *argv, "--dataset", "digits", "--output", tmp_path / "f.h5")
    assert result.code == 2 and message in result.err
    assert len(result.err.splitlines()) == 1


def test_the_output_must_be_an_h5_file(zoo_cli, tmp_path):
    result = zoo_cli("extract", "--model", "hu", "--dataset", "digits", "--output",
                     tmp_path / "f.csv")
    assert result.code == 2 and "must end in .h5" in result.err


def test_the_output_is_checked_before_a_cnn_is_built(zoo_cli, tmp_path, monkeypatch):
    import zoo.commands._features as features

    monkeypatch.setattr(features, "load_keras", lambda: pytest.fail("Keras loaded"))
    result = zoo_cli("extract", "--model", "mobilenetv2", "--dataset", "digits", "--output",
                     tmp_path / "f.csv")
    assert result.code == 2 and "must end in .h5" in result.err
