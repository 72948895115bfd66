"""zoo.evaluation: calibration (ECE, the reliability table), top losses, correct examples,
the most confused pairs and the bias/variance diagnosis; zoo.plots: their two figures."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from zoo.evaluation import (
    correct_examples,
    diagnose,
    evaluate_predictions,
    expected_calibration_error,
    most_confused,
    reliability,
    top_losses,
    write_report,
)
from zoo.plots import plot_confidence_histogram, plot_reliability
from zoo.run import RunDir


def _one_hot_ish(confidence: float, predicted: int, classes: int = 3) -> list[float]:
    """A probability row whose largest entry is `confidence`, at `predicted`, the rest shared."""
    rest = (1 - confidence) / (classes - 1)
    return [confidence if c == predicted else rest for c in range(classes)]


def test_ece_equals_the_hand_computation():
    # Six images in three of the 15 bins (edges at multiples of 1/15 = 0.0667):
    #   bin (0.533, 0.600]: confidences 0.55 and 0.58, both right -> acc 1.0, conf 0.565
    #   bin (0.867, 0.933]: confidences 0.90 and 0.90, one right  -> acc 0.5, conf 0.900
    #   bin (0.933, 1.000]: confidences 0.95 and 1.00, one right  -> acc 0.5, conf 0.975
    # ECE = 2/6 * |1.0 - 0.565| + 2/6 * |0.5 - 0.9| + 2/6 * |0.5 - 0.975|
    #     = (0.435 + 0.400 + 0.475) / 3 = 1.31 / 3
    probs = np.array([_one_hot_ish(0.55, 0), _one_hot_ish(0.58, 1), _one_hot_ish(0.90, 2),
                      _one_hot_ish(0.90, 0), _one_hot_ish(0.95, 1), [1.0, 0.0, 0.0]])
    labels = np.array([0, 1, 2, 1, 1, 2])
    # The inputs carry decimal rounding (0.565 is no binary fraction): 1e-12 is far above a
    # few float64 ulps of sums of six terms, and far below any binning mistake (>= 0.01).
    assert expected_calibration_error(probs, labels) == pytest.approx(1.31 / 3, abs=1e-12)
    rel = reliability(probs, labels)
    assert [i for i, c in enumerate(rel["count"]) if c] == [8, 13, 14]
    assert [rel["count"][i] for i in (8, 13, 14)] == [2, 2, 2]
    assert [rel["accuracy"][i] for i in (8, 13, 14)] == [1.0, 0.5, 0.5]
    assert rel["confidence"][8] == pytest.approx(0.565, abs=1e-12)
    assert rel["confidence"][14] == pytest.approx(0.975, abs=1e-12)
    assert rel["accuracy"][0] is None and rel["confidence"][0] is None
    assert rel["ece"] == expected_calibration_error(probs, labels)


def test_a_perfectly_calibrated_model_has_an_ece_of_zero():
    # Binary fractions, so every sum and mean is exact: confidence 0.75 on four images of
    # which three are right; confidence 0.5 on two, one right.
    probs = np.array([[0.75, 0.125, 0.125]] * 4 + [[0.5, 0.25, 0.25]] * 2)
    labels = np.array([0, 0, 0, 1, 0, 2])
    assert expected_calibration_error(probs, labels) == 0.0
    rel = reliability(probs, labels)
    assert sum(rel["count"]) == 6 and rel["count"][11] == 4 and rel["count"][7] == 2
    assert rel["accuracy"][11] == rel["confidence"][11] == 0.75


def test_an_over_confident_model_has_the_gap_as_its_ece():
    # Confidence 31/32 on four images, two right: |0.5 - 0.96875| = 0.46875, exact in binary.
    probs = np.array([[0.96875, 0.03125]] * 4)
    labels = np.array([0, 1, 0, 1])
    assert expected_calibration_error(probs, labels) == 0.46875
    rel = reliability(probs, labels)
    assert rel["confidence"][14] > rel["accuracy"][14] == 0.5
    # Fewer bins change nothing here: the images share one bin whatever the width.
    assert expected_calibration_error(probs, labels, bins=1) == 0.46875


def test_a_confidence_on_an_edge_goes_to_the_bin_below_it():
    classes = 15
    uniform = np.full(classes, 1 / 15)  # confidence exactly 1/15, the first bin's right edge
    above = uniform.copy()
    above[0] = np.nextafter(1 / 15, 1.0)  # the smallest confidence above that edge
    certain = np.eye(classes)[3]  # confidence exactly 1.0, the last bin's right edge
    nothing = np.zeros(classes)  # confidence 0, which no (a, b] bin holds
    probs = np.stack([uniform, above, certain, nothing])
    rel = reliability(probs, np.array([0, 0, 3, 0]))
    assert rel["edges"][1] == 1 / 15 and rel["edges"][-1] == 1.0 and len(rel["edges"]) == 16
    assert rel["count"][0] == 2  # 1/15 and 0
    assert rel["count"][1] == 1  # just above 1/15
    assert rel["count"][14] == 1  # 1.0
    assert sum(rel["count"]) == 4
    json.dumps(rel)  # plain floats, ints and None


def test_calibration_refuses_no_images_and_mismatched_shapes():
    with pytest.raises(ValueError, match="0 images"):
        expected_calibration_error(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="labels.shape"):
        expected_calibration_error(np.ones((4, 3)) / 3, np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="bins=0"):
        reliability(np.ones((4, 3)) / 3, np.zeros(4, dtype=int), bins=0)


def test_top_losses_are_the_mistakes_with_the_highest_loss_ties_by_index():
    probs = np.array([
        [0.70, 0.20, 0.10],  # 0: label 0, right (excluded)
        [0.60, 0.30, 0.10],  # 1: label 1, wrong, loss -log 0.30 = 1.20
        [0.50, 0.10, 0.40],  # 2: label 1, wrong, loss -log 0.10 = 2.30
        [0.20, 0.20, 0.60],  # 3: label 0, wrong, loss -log 0.20 = 1.61
        [0.10, 0.60, 0.30],  # 4: label 0, wrong, loss -log 0.10 = 2.30 (tie with 2)
        [0.40, 0.30, 0.30],  # 5: label 0, right, loss 0.92 > image 6's, yet excluded
        [0.55, 0.45, 0.00],  # 6: label 1, wrong, loss -log 0.45 = 0.80
        [0.00, 1.00, 0.00],  # 7: label 0, wrong, loss -log 0 = inf
    ])
    labels = np.array([0, 1, 1, 0, 0, 0, 1, 0])
    assert top_losses(probs, labels).tolist() == [7, 2, 4, 3, 1, 6]  # k above the 6 mistakes
    assert top_losses(probs, labels, k=3).tolist() == [7, 2, 4]
    assert top_losses(probs, labels, k=0).tolist() == []
    assert top_losses(np.eye(3), np.arange(3)).tolist() == []  # no mistakes


def test_correct_examples_are_the_most_confident_right_answers_per_class():
    probs = np.array([
        [0.70, 0.20, 0.10],  # 0: class 0, right, 0.70
        [0.60, 0.30, 0.10],  # 1: class 1, wrong
        [0.90, 0.05, 0.05],  # 2: class 0, right, 0.90
        [0.70, 0.10, 0.20],  # 3: class 0, right, 0.70 (tie with 0)
        [0.40, 0.30, 0.30],  # 4: class 0, right, 0.40
        [0.10, 0.80, 0.10],  # 5: class 1, right, 0.80
        [0.80, 0.10, 0.10],  # 6: class 2, wrong
    ])
    labels = np.array([0, 1, 0, 0, 0, 1, 2])
    examples = correct_examples(probs, labels, per_class=3)
    assert sorted(examples) == [0, 1, 2]
    assert examples[0].tolist() == [2, 0, 3]
    assert examples[1].tolist() == [5]
    assert examples[2].tolist() == []
    assert correct_examples(probs, labels)[0].tolist() == [2, 0, 3, 4]


def test_most_confused_lists_off_diagonal_pairs_by_count_then_index():
    confusion = np.array([[9, 2, 0],
                          [3, 8, 2],
                          [0, 1, 7]])
    names = ["cat", "dog", "fox"]
    assert most_confused(confusion, names) == [
        ("dog", "cat", 3), ("cat", "dog", 2), ("dog", "fox", 2), ("fox", "dog", 1)]
    assert most_confused(confusion, names, most=2) == [("dog", "cat", 3), ("cat", "dog", 2)]
    assert most_confused(np.diag([4, 5, 6]), names) == []
    with pytest.raises(ValueError, match="3 names"):
        most_confused(np.zeros((2, 2)), names)


@pytest.mark.parametrize(("train", "val", "verdict"), [
    (0.005, 0.01, ["ok"]),
    (0.15, 0.16, ["high bias"]),
    (0.01, 0.11, ["high variance"]),
    (0.15, 0.30, ["high bias", "high variance"]),
])
def test_diagnose_reads_the_four_cases_of_the_bias_variance_table(train, val, verdict):
    # Andrew Ng's examples, human-level (Bayes) error about 0.
    result = diagnose(train, val, val)
    assert result["verdict"] == verdict
    assert result["bias"] == pytest.approx(train)
    assert result["variance"] == pytest.approx(val - train)
    assert result["val_test_gap"] == 0.0


def test_diagnose_uses_bayes_error_flags_validation_overfit_and_skips_unknowns():
    # 8% train error is no avoidable bias when humans err 7.5% of the time.
    assert diagnose(0.08, 0.10, 0.10, bayes_error=0.075)["verdict"] == ["ok"]
    assert diagnose(0.08, 0.10, 0.10)["verdict"] == ["high bias"]
    assert diagnose(0.01, 0.02, 0.12)["verdict"] == ["validation overfit"]
    assert diagnose(0.01, 0.02, 0.12, tolerance=0.2)["verdict"] == ["ok"]
    unknown = diagnose(None, 0.3, None)
    assert unknown == {"bias": None, "variance": None, "val_test_gap": None, "verdict": ["ok"]}


def _synthetic(n: int = 300, classes: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, classes)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.where(rng.random(n) < 0.7, probs.argmax(axis=1), rng.integers(0, classes, n))
    return probs, labels


def _check_png(path, size):
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == size
        # Drawn, not blank: a figure of bars, text and lines has many colours.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 50


def test_the_reliability_diagram_and_the_confidence_histogram_are_written(tmp_path):
    probs, labels = _synthetic()
    written = plot_reliability(reliability(probs, labels), tmp_path / "reliability.png",
                               title="test")
    assert written == tmp_path / "reliability.png"
    _check_png(written, (500, 450))  # 5 x 4.5 inches at 100 dpi
    written = plot_confidence_histogram(probs, labels, tmp_path / "confidence.png")
    _check_png(written, (500, 450))
    # A model that is never wrong draws an empty "wrong" histogram, not an error.
    plot_confidence_histogram(np.eye(3), np.arange(3), tmp_path / "right.png")
    _check_png(tmp_path / "right.png", (500, 450))


def test_evaluate_predictions_reports_the_ece_into_metrics_json(tmp_path):
    probs, labels = _synthetic()
    names = [f"c{i}" for i in range(5)]
    result = evaluate_predictions(probs, labels, names)
    assert result["ece"] == expected_calibration_error(probs, labels)
    assert 0 < result["ece"] < 1 and math.isfinite(result["ece"])
    run = RunDir.create(tmp_path, "run")
    write_report(run, result, {"split": "test"}, names)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["ece"] == result["ece"]
