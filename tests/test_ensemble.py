import json

import numpy as np
import pytest

from zoo.config import Config
from zoo.evaluation import evaluate_predictions, predict_split
from zoo.inputs import prepare
from zoo.run import RunDir, load_model


def _train(root, name, *flags):
    from zoo.cli import main

    code = main(["train", "--model", "shallownet", "--dataset", "digits", "--epochs", "1",
                 "--output", str(root), "--name", name, *flags])
    assert code == 0
    return root / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "a": _train(root, "a", "--seed", "1"),
        # another seed and another input: 16x16 and mean subtraction
        "b": _train(root, "b", "--seed", "2", "--image-size", "16,16", "--mean-subtract"),
        "subset": _train(root, "subset", "--seed", "1", "--classes", "0,1,2"),
        "limited": _train(root, "limited", "--seed", "3", "--limit", "100"),
    }


def _member(run_dir):
    run = RunDir(run_dir)
    labels = run.read_card()
    inputs = prepare(Config(run.read_config()), mean=labels.mean)
    which, split = inputs.splits.eval_split("test")
    return predict_split(load_model(run.best_model, compile=False), split,
                         inputs.eval_transform)


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
    assert metrics["accuracy"] == pytest.approx(expected["accuracy"])
    assert metrics["top5_accuracy"] == pytest.approx(expected["top5_accuracy"])
    assert metrics["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    members = {m["run"]: m for m in metrics["members"]}
    for key, probs in (("a", probs_a), ("b", probs_b)):
        own = evaluate_predictions(probs, y, names)
        assert members[str(runs[key])]["accuracy"] == pytest.approx(own["accuracy"])
        assert members[str(runs[key])]["loss"] == pytest.approx(own["loss"], rel=1e-6)
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
