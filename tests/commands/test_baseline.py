"""`zoo baseline`: its extractor flags are refused in one line, before a run is made."""


def test_pooling_of_a_classic_descriptor_is_refused_before_the_run(zoo_cli, tmp_path):
    result = zoo_cli("baseline", "--dataset", "digits", "--features", "hog", "--pooling",
                     "max", "--classifier", "knn", "--output", tmp_path, "--name", "b")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "--pooling applies to CNN extractors, not to hog" in result.err
    assert not any(tmp_path.iterdir())
