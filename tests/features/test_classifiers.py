"""zoo fit-features, zoo baseline, and zoo predict through a features run."""

import json

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from tests.features.helpers import NAMES, make_source_run, write_blobs
from zoo.features.classifiers import CLASSIFIERS
from zoo.features.hdf5 import read_features
from zoo.run import RunDir


@pytest.mark.parametrize("classifier", CLASSIFIERS)
def test_separable_features_are_learned_and_the_test_split_is_never_fitted(
        classifier, zoo_cli, tmp_path, monkeypatch):
    path = write_blobs(tmp_path / "blobs.h5")
    data = read_features(path)
    test_rows = {row.tobytes() for row in data.part("test")[0]}
    seen = []
    fit = Pipeline.fit

    def spy(self, x, y=None, **kwargs):  # every fit, GridSearchCV's clones included
        seen.extend(np.asarray(x, dtype=np.float32))
        return fit(self, x, y, **kwargs)

    monkeypatch.setattr(Pipeline, "fit", spy)
    result = zoo_cli("fit-features", path, "--classifier", classifier, "--grid", "--output",
                     tmp_path, "--name", "run")
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == str(tmp_path / "run")
    assert seen and not any(row.tobytes() in test_rows for row in seen)
    assert len(seen) > len(data.features)  # the grid fitted several times (then refitted)
    run = RunDir(tmp_path / "run")
    metrics = run.read_metrics()
    assert metrics["split"] == "test" and metrics["images"] == 30
    assert metrics["accuracy"] >= 0.95 and metrics["top5_accuracy"] == 1.0
    assert metrics["classifier"] == classifier and metrics["grid"] is True
    assert metrics["params"] and metrics["val_accuracy"] >= 0.9
    for file in (run.report_file, run.confusion_png, run.classifier_file, run.labels_file,
                 run.features_json):
        assert file.is_file(), file
    assert list(run.read_card().names) == NAMES


def test_an_adversarial_test_split_changes_nothing_but_the_score(zoo_cli, tmp_path):
    """Test labels that contradict train and validation: a search that peeked at them would
    choose other parameters; one that did not chooses the same and scores near zero."""
    from zoo.features.hdf5 import write_features

    data = read_features(write_blobs(tmp_path / "honest.h5"))
    adversarial = [(*data.part("train"), "train"), (*data.part("val"), "val")]
    x_test, y_test = data.part("test")
    adversarial.append((x_test, (y_test + 1) % 3, "test"))
    write_features(tmp_path / "adversarial.h5", adversarial, NAMES, data.attrs)
    metrics = {}
    for name in ("honest", "adversarial"):
        result = zoo_cli("fit-features", tmp_path / f"{name}.h5", "--classifier", "knn",
                         "--grid", "--output", tmp_path, "--name", name)
        assert result.code == 0, result.err
        metrics[name] = RunDir(tmp_path / name).read_metrics()
    assert metrics["honest"]["params"] == metrics["adversarial"]["params"]
    assert metrics["honest"]["val_accuracy"] == metrics["adversarial"]["val_accuracy"]
    assert metrics["honest"]["accuracy"] >= 0.95 and metrics["adversarial"]["accuracy"] <= 0.05


def test_without_grid_the_defaults_are_fitted_on_train(zoo_cli, tmp_path):
    path = write_blobs(tmp_path / "blobs.h5")
    result = zoo_cli("fit-features", path, "--classifier", "linearsvm", "--output", tmp_path,
                     "--name", "run")
    assert result.code == 0, result.err
    metrics = RunDir(tmp_path / "run").read_metrics()
    assert metrics["params"] == {} and metrics["accuracy"] >= 0.95
    assert metrics["train_rows"] == 90


def test_grid_without_a_validation_split_is_one_line(zoo_cli, tmp_path):
    path = write_blobs(tmp_path / "blobs.h5", per_class=(30, 0, 10))
    result = zoo_cli("fit-features", path, "--classifier", "logreg", "--grid", "--output",
                     tmp_path / "o")
    assert result.code == 2 and "--val-split above 0" in result.err
    assert len(result.err.splitlines()) == 1


def test_predict_through_a_classic_baseline(zoo_cli, tmp_path):
    from tests.fixtures import write_folder
    from zoo.features.extractors import CLASSIC
    from zoo.predict.loop import load_image

    root, _ = write_folder(tmp_path / "animals", per_class=10, broken=False)
    result = zoo_cli("baseline", "--dataset", f"folder:{root}", "--features", "pixels",
                     "--classifier", "logreg", "--val-split", "0.2", "--output", tmp_path,
                     "--name", "base")
    assert result.code == 0, result.err
    run = RunDir(tmp_path / "base")
    assert run.features_file.is_file() and run.read_metrics()["accuracy"] >= 0.8
    images = sorted(str(p) for p in (root / "dogs").iterdir())[:3]
    result = zoo_cli("predict", "--image", *images, "--model", run.path, "--json", "--top", "3")
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [line["model"] for line in lines] == ["base"] * 3
    assert all(line["predictions"][0]["label"] == "dogs" for line in lines)
    import joblib

    pipeline = joblib.load(run.classifier_file)
    # a run's model meets a photo as its training did: the centre crop (zoo predict's default)
    x = np.stack([load_image(p, (32, 32, 3), crop=True) for p in images])
    expected = pipeline.predict_proba(CLASSIC["pixels"](x))
    # the same pipeline on the same features of the same 3 images: only the order of its sums
    # may differ, by a few float32 roundings (6e-8 each) at most; rtol 1e-6 bounds that and is
    # far below what a different model would change
    for line, probs in zip(lines, expected, strict=True):
        got = {p["index"]: p["probability"] for p in line["predictions"]}
        np.testing.assert_allclose([got[i] for i in range(3)], probs, rtol=1e-6)


def test_predict_through_a_cnn_features_run(zoo_cli, tmp_path):
    from tests.fixtures import write_images

    source, _ = make_source_run(tmp_path)
    features = tmp_path / "f.h5"
    assert zoo_cli("extract", "--model", source.path, "--dataset", "digits", "--limit", "30",
                   "--output", features).code == 0
    result = zoo_cli("fit-features", features, "--classifier", "knn", "--output", tmp_path,
                     "--name", "knn")
    assert result.code == 0, result.err
    run = RunDir(tmp_path / "knn")
    assert run.extractor_model.is_file()
    images = write_images(tmp_path / "new", ["a.png", "b.png"], size=(8, 8))
    result = zoo_cli("predict", "--image", *images, "--model", run.path, "--json", "--top", "2")
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert len(lines) == 2 and all(len(line["predictions"]) == 2 for line in lines)
    # the run stands alone: its source run may go
    import shutil

    shutil.rmtree(source.path)
    again = zoo_cli("predict", "--image", *images, "--model", run.path, "--json", "--top", "2")
    assert again.code == 0 and again.out == result.out


def test_weights_with_a_features_run_is_one_line(zoo_cli, tmp_path):
    path = write_blobs(tmp_path / "blobs.h5")
    assert zoo_cli("fit-features", path, "--classifier", "knn", "--output", tmp_path,
                   "--name", "run").code == 0
    result = zoo_cli("predict", "--image", path, "--model", tmp_path / "run", "--weights",
                     path)
    assert result.code == 2 and "is a features run" in result.err


def test_a_taken_run_name_is_refused_before_fitting(zoo_cli, tmp_path):
    path = write_blobs(tmp_path / "blobs.h5")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "x").write_text("")
    result = zoo_cli("fit-features", path, "--classifier", "knn", "--output", tmp_path,
                     "--name", "run")
    assert result.code == 2
    assert result.err == (f"zoo: error: run directory {tmp_path / 'run'} already exists; "
                          "choose another --name or --output\n")


def test_a_failed_baseline_leaves_no_run(zoo_cli, tmp_path, monkeypatch):
    from zoo.features.extractors import CLASSIC

    def failing(images):
        raise RuntimeError("boom")

    monkeypatch.setattr(CLASSIC["hu"], "fn", failing)
    result = zoo_cli("baseline", "--dataset", "digits", "--limit", "20", "--features", "hu",
                     "--classifier", "knn", "--output", tmp_path, "--name", "b")
    assert result.code == 1 and "RuntimeError: boom" in result.err
    assert not (tmp_path / "b").exists()


def test_baseline_on_digits(zoo_cli, tmp_path):
    result = zoo_cli("baseline", "--dataset", "digits", "--limit", "60", "--features", "hog",
                     "--classifier", "knn", "--grid", "--output", tmp_path)
    assert result.code == 0, result.err
    run = RunDir(result.out.splitlines()[-1])
    assert run.name.startswith("hog-knn-digits-")
    metrics = run.read_metrics()
    assert metrics["accuracy"] >= 0.8 and metrics["extractor"] == "hog"
    assert metrics["images"] == 60 and metrics["train_rows"] == 60
    assert set(metrics["params"]) == {"n_neighbors", "metric"}


def test_baseline_from_a_run_layer(zoo_cli, tmp_path):
    source, _ = make_source_run(tmp_path)
    result = zoo_cli("baseline", "--dataset", "digits", "--limit", "30", "--features",
                     source.path, "--layer", "conv1_relu", "--pooling", "max", "--classifier",
                     "logreg", "--output", tmp_path, "--name", "b")
    assert result.code == 0, result.err
    run = RunDir(tmp_path / "b")
    metrics = run.read_metrics()
    assert (metrics["layer"], metrics["pooling"], metrics["dim"]) == ("conv1_relu", "max", 32)
    assert run.extractor_model.is_file() and run.features_file.is_file()
