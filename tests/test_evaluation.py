"""zoo.evaluation: ensembles of runs (`zoo evaluate --ensemble`)."""

import json
import math
import shutil

import numpy as np
import pytest
import yaml

from tests.conftest import TRAINED_RUN_FLAGS, train_in_process
from zoo.evaluation import evaluate_predictions, predict_split, run_inputs
from zoo.run import RunDir, load_model


@pytest.fixture(scope="module")
def runs(trained_run, tmp_path_factory):
    """Ensemble members: `a` is the session's `trained_run` (shallownet, digits, seed 1); `b`
    another seed and another input (16x16 and mean subtraction); `subset` three classes only;
    `limited` a copy of `a` whose saved settings say `--limit 100 --seed 3`, so it is evaluated
    on other images (its weights play no part in the refusal)."""
    root = tmp_path_factory.mktemp("runs")
    limited = root / "limited"
    shutil.copytree(trained_run, limited)
    config = yaml.safe_load((limited / "config.yaml").read_text())
    (limited / "config.yaml").write_text(yaml.safe_dump({**config, "limit": 100, "seed": 3},
                                                        sort_keys=False))
    base = TRAINED_RUN_FLAGS[:6]  # shallownet, digits, one epoch
    return {
        "a": trained_run,
        "b": train_in_process(root, "b", *base, "--seed", "2", "--image-size", "16,16",
                              "--mean-subtract"),
        "subset": train_in_process(root, "subset", *base, "--seed", "1", "--classes", "0,1,2",
                                   "--per-class", "20"),
        "limited": limited,
    }


def _member(run_dir):
    """A member's test probabilities, computed as the ensemble computes them: the same model
    file, the same inputs, the same batches (`predict_split`'s 256) in this process."""
    run = RunDir(run_dir)
    inputs = run_inputs(run, run.read_card())
    which, split = inputs.splits.eval_split("test")
    return predict_split(load_model(run.best_model, compile=False), split,
                         inputs.eval_transform)[:2]


# The expected metrics below come from the members' probabilities predicted by the same code on
# the same batches in this process (bit-identical to the ensemble's own), so the only float
# operations that may differ in order are the float64 mean of two members and the mean of 360
# log-probabilities: a few ulps of float64, relative 1e-15 each. rel=1e-12 bounds that with a
# wide margin, and is still far below any real change of the loss (1e-4 and up).
FLOAT64_REL = 1e-12


def test_the_ensemble_averages_its_members_probabilities(runs, tmp_path, zoo_cli):
    output = tmp_path / "ens"
    result = zoo_cli("evaluate", "--ensemble", runs["a"], runs["b"], "--output", output)
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == str(output)
    assert "ensemble" in result.out and str(runs["a"]) in result.out
    (probs_a, y), (probs_b, y_b) = _member(runs["a"]), _member(runs["b"])
    assert np.array_equal(y, y_b) and len(y) == 360
    names = [str(i) for i in range(10)]
    expected = evaluate_predictions((probs_a + probs_b) / 2, y, names)
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["images"] == 360 and metrics["split"] == "test"
    assert metrics["accuracy"] == expected["accuracy"]
    assert metrics["top5_accuracy"] == expected["top5_accuracy"]
    assert metrics["loss"] == pytest.approx(expected["loss"], rel=FLOAT64_REL)
    members = {m["run"]: m for m in metrics["members"]}
    for key, probs in (("a", probs_a), ("b", probs_b)):
        own = evaluate_predictions(probs, y, names)
        assert members[str(runs[key])]["accuracy"] == own["accuracy"]
        assert members[str(runs[key])]["loss"] == pytest.approx(own["loss"], rel=FLOAT64_REL)
    assert (output / "classification_report.txt").is_file()
    assert (output / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_members_with_different_classes_are_refused_in_one_line(runs, tmp_path, zoo_cli):
    result = zoo_cli("evaluate", "--ensemble", runs["a"], runs["subset"],
                     "--output", tmp_path / "ens")
    assert result.code == 2 and result.out == "" and result.err.count("\n") == 1
    assert "share their classes" in result.err and str(runs["subset"]) in result.err
    assert not (tmp_path / "ens").exists()


def test_members_that_see_different_images_are_refused_in_one_line(runs, tmp_path, zoo_cli):
    result = zoo_cli("evaluate", "--ensemble", runs["a"], runs["limited"],
                     "--output", tmp_path / "ens")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "100 test images of digits" in result.err and "360 test images" in result.err
    assert not (tmp_path / "ens").exists()


def test_the_command_line_wants_a_run_or_an_ensemble(runs, zoo_cli, tmp_path):
    for argv in (["evaluate"], ["evaluate", runs["a"], "--ensemble", runs["b"]],
                 ["evaluate", "--ensemble", runs["a"]],
                 ["evaluate", "--ensemble", runs["a"], tmp_path / "absent"]):
        result = zoo_cli(*argv)
        assert result.code == 2 and result.err.count("\n") == 1, argv


def test_evaluation_streams_the_split_in_batches(tmp_path):
    """predict_split hands the model one batch at a time, always of one shape (the short
    last batch padded), and gives the same probabilities as predicting the split at once."""
    import keras

    from zoo.data.datasets import load_dataset
    from zoo.data.pipeline import Transform
    from zoo.evaluation import predict_split

    splits = load_dataset("digits", seed=0, val_split=0.1)
    transform = Transform(size=(8, 8), channels=1)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    seen = []
    original = model.predict_on_batch

    def spy(x):
        seen.append(len(x))
        return original(x)

    model.predict_on_batch = spy
    probs, labels, index = predict_split(model, splits.test, transform, batch_size=64)
    assert set(seen) == {64} and len(seen) == math.ceil(len(splits.test) / 64)
    assert len(labels) == len(splits.test) == len(probs)
    np.testing.assert_array_equal(index, splits.test.indices)  # every image was readable
    x = transform(splits.test.source.load(splits.test.indices)[0])
    np.testing.assert_allclose(probs, model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(labels, splits.test.labels)

    # a split smaller than a batch is predicted at its own size, not padded to the batch
    # (40 images at 224x224 padded to 256 rows were 6.4 times the work), with flip TTA too
    seen.clear()
    predict_split(model, splits.test, transform, batch_size=4 * len(splits.test))
    assert seen == [len(splits.test)]
    seen.clear()
    predict_split(model, splits.test, transform, batch_size=4 * len(splits.test), tta="flip")
    assert seen == [2 * len(splits.test)]
