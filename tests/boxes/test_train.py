"""A boxes run end to end: zoo train --task boxes writes the IoU metrics and lists the bad
rows, resumes exactly, evaluates, predicts the box in the image's own pixels, exports, and
learns (IoU >= 0.5 well above the best constant box)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.boxes.helpers import make_canvases, write_image
from tests.training.helpers import Crash, checkpoint_weights, crash_after
from zoo.config import resolve

BAD_ROWS = ["images/00000.png,0,0,33,10,Bag", "images/00001.png,9,9,3,20,Bag",
            "images/nothere.png,1,1,5,5,Bag", "images/00002.png,1,1"]


def _flags(csv_path: Path, out: Path, **more) -> dict:
    return {"task": "boxes", "model": "lenet5", "dataset": f"boxes:{csv_path}",
            "image_size": "32,32", "epochs": 2, "batch_size": 16, "optimizer": "adam",
            "lr": 0.002, "augment": True, "seed": 3, "output": str(out), **more}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 2-epoch run, and the same run crashed after epoch 1 (not yet resumed)."""
    from zoo.training.trainer import train

    tmp = tmp_path_factory.mktemp("boxes")
    annotations = make_canvases(tmp / "canvases", 64, size=32, seed=2, classes=3)
    # rows 2-5 are replaced by bad ones: their images are never trained on
    lines = annotations.read_text().splitlines()
    annotations.write_text("\n".join(lines[:1] + BAD_ROWS + lines[5:]) + "\n")
    train(resolve(None, _flags(annotations, tmp / "out", name="straight")))
    with pytest.raises(Crash):
        train(resolve(None, _flags(annotations, tmp / "out", name="crashed")),
              callbacks=[crash_after(1)])
    return tmp, annotations


def test_a_boxes_run_writes_iou_metrics_and_lists_the_bad_rows(runs):
    tmp, annotations = runs
    run = tmp / "out" / "straight"
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("mean_iou", "iou50", "iou75", "class_accuracy", "loss", "per_class", "split",
                "epochs", "train_seconds"):
        assert key in metrics, key
    assert metrics["task"] == "boxes" and metrics["split"] == "val" and metrics["epochs"] == 2
    assert 0 <= metrics["iou75"] <= metrics["iou50"] <= 1 and 0 < metrics["mean_iou"] < 1
    # the square canvases need no bars: the IoU in pixels is the model's val_iou of the best
    history = json.loads((run / "history.json").read_text())
    best = min(history, key=lambda row: row["val_loss"])
    assert metrics["mean_iou"] == pytest.approx(best["val_iou"], rel=1e-4)
    assert metrics["class_accuracy"] == pytest.approx(best["val_class_accuracy"], rel=1e-4)
    assert {"iou", "val_iou", "val_iou50", "val_iou75"} <= set(history[0])
    card = json.loads((run / "labels.json").read_text())
    assert card["task"] == "boxes" and len(card["labels"]) == 3
    skipped = (run / "skipped_files.txt").read_text()
    for line, reason in ((2, "outside the 32x32 image"), (3, "x2 3 <= x1 9"),
                         (4, "missing file"), (5, "malformed row")):
        assert f"ANNOTATIONS.csv line {line}\t" in skipped and reason in skipped
    page = (run / "report.html").read_text()
    assert "mean_iou" in page and "lowest IoUs" in page
    assert page.count('<img src="data:image/png;base64,') >= 10  # curves and galleries
    predicted = {row["file"] for row in csv.DictReader((run / "box_predictions.csv").open())}
    trained_on = {f"images/0000{i}.png" for i in range(4)}
    assert not any(p.endswith(tuple(trained_on)) for p in predicted)


def test_an_interrupted_boxes_run_resumes_to_the_same_weights(runs, zoo_cli):
    tmp, _ = runs
    crashed, straight = tmp / "out" / "crashed", tmp / "out" / "straight"
    result = zoo_cli("train", "--resume", crashed)
    assert result.code == 0, result.err
    history = json.loads((crashed / "history.json").read_text())
    expected = json.loads((straight / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    for key in ("loss", "iou", "val_iou", "val_loss"):
        assert [r[key] for r in history] == [r[key] for r in expected], key
    for a, b in zip(checkpoint_weights(crashed, 2), checkpoint_weights(straight, 2),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    got = json.loads((crashed / "metrics.json").read_text())
    want = json.loads((straight / "metrics.json").read_text())
    assert (got["mean_iou"], got["iou50"]) == (want["mean_iou"], want["iou50"])


def test_zoo_evaluate_on_another_set_evaluates_all_of_it(runs, zoo_cli):
    tmp, _ = runs
    other = make_canvases(tmp / "other", 12, size=40, seed=9, classes=3)
    result = zoo_cli("evaluate", tmp / "out" / "straight", "--dataset", f"boxes:{other}")
    assert result.code == 0, result.err
    assert "mean_iou" in result.out
    metrics = json.loads((tmp / "out" / "straight" / "metrics.json").read_text())
    assert metrics["split"] == "all" and metrics["images"] == 12
    page = tmp / "again.html"
    result = zoo_cli("report", tmp / "out" / "straight", "-o", page)  # predicts again
    assert result.code == 0, result.err
    assert "lowest IoUs" in page.read_text() and "0000" in page.read_text()


def test_zoo_evaluate_on_another_set_matches_its_classes_by_name(runs, zoo_cli):
    """A set of fewer of the run's classes is evaluated with its labels renumbered by name
    (Trouser is the run's class 1, the set's 0); a set of classes the run never saw is one
    line, exit 2, not a class accuracy of mismatched indices."""
    tmp, _ = runs
    run = tmp / "out" / "straight"
    trousers = make_canvases(tmp / "trousers", 6, size=32, seed=5, classes=(1,))
    result = zoo_cli("evaluate", run, "--dataset", f"boxes:{trousers}")
    assert result.code == 0, result.err
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics["per_class"]) == ["Trouser"] and metrics["images"] == 6
    rows = list(csv.DictReader((run / "box_predictions.csv").open()))
    assert {row["label"] for row in rows} == {"Trouser"}
    right = sum(row["predicted"] == "Trouser" for row in rows) / len(rows)
    assert metrics["class_accuracy"] == pytest.approx(right)
    foreign = make_canvases(tmp / "foreign", 6, size=32, seed=5, classes=(3, 4, 5))
    result = zoo_cli("evaluate", run, "--dataset", f"boxes:{foreign}")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert "was not trained on the classes" in result.err


class _Oracle:
    """A model-free 'model' that answers each letter-boxed image with the box of its lit
    pixels, normalised: what a perfect model would say."""

    def predict(self, x, batch_size=32, verbose=0):
        out = []
        for image in x:
            ys, xs = np.nonzero(image[..., 0] > 0.5)
            h, w = image.shape[:2]
            out.append([xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h])
        return np.array(out)

    def predict_on_batch(self, x):
        return self.predict(x)


def test_evaluation_measures_iou_in_the_images_own_pixels(tmp_path):
    """Model-free: a perfect answer on letter-boxed inputs with bars (a wide, a tall image) is
    mapped back onto the true box in each image's pixels, IoU 1."""
    from zoo.boxes.annotations import BoxSource
    from zoo.boxes.evaluation import evaluate_boxes
    from zoo.data.pipeline import Transform
    from zoo.data.splits import Split

    images = {"wide.png": (32, 128, (16, 8, 80, 24)), "tall.png": (256, 64, (4, 20, 60, 200))}
    paths = [str(write_image(tmp_path / n, h, w, box)) for n, (h, w, box) in images.items()]
    source = BoxSource(paths, [0, 0], [box for _, _, box in images.values()],
                       [(h, w) for h, w, _ in images.values()], (64, 64), 3)
    metrics, rows = evaluate_boxes(_Oracle(), Split(source, np.arange(2)),
                                   Transform((64, 64), 1), ["object"])
    assert (metrics["mean_iou"], metrics["iou75"], metrics["images"]) == (1.0, 1.0, 2)
    for row, (_, _, box) in zip(rows, images.values(), strict=True):
        assert [row[f"pred_{c}"] for c in ("x1", "y1", "x2", "y2")] == list(box)


def test_predict_undoes_the_letterbox_into_the_images_own_pixels(tmp_path):
    from zoo.boxes.predict import predict_box_images
    from zoo.card import ModelCard
    from zoo.predict.predictor import Predictor

    # sizes that the 64x64 input divides exactly (so the lit pixels have exact edges)
    images = {"wide.png": (32, 128, (16, 8, 80, 24)), "tall.png": (256, 64, (4, 20, 60, 200)),
              "square.png": (16, 16, (2, 3, 9, 15))}
    paths = [str(write_image(tmp_path / n, h, w, box)) for n, (h, w, box) in images.items()]
    card = ModelCard(("object",), (64, 64, 1), task="boxes")
    results = list(predict_box_images(Predictor(_Oracle(), card, "oracle"), paths))
    for result, (name, (h, w, box)) in zip(results, images.items(), strict=True):
        assert result.size == (w, h), name
        np.testing.assert_allclose(result.box, box, atol=1e-6, err_msg=name)


def test_zoo_predict_of_a_boxes_run_prints_writes_and_draws(runs, zoo_cli, tmp_path):
    from zoo.data.images import read_image

    tmp, annotations = runs
    image = write_image(tmp_path / "wide.png", 24, 48, (6, 4, 20, 20))  # not the model's size
    result = zoo_cli("predict", "--model", tmp / "out" / "straight", "--image", image,
                     annotations.parent / "images" / "00010.png", "--json",
                     "--output", tmp_path / "drawn")
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert [(r["width"], r["height"]) for r in rows] == [(48, 24), (32, 32)]
    for row in rows:
        box = row["box"]
        assert 0 <= box["x1"] <= box["x2"] <= row["width"]
        assert 0 <= box["y1"] <= box["y2"] <= row["height"]
        assert row["label"] in ("T-shirt/top", "Trouser", "Pullover")
        assert 0 < row["probability"] <= 1
    drawn = read_image(tmp_path / "drawn" / "wide.png", 3)
    original = read_image(image, 3)
    assert drawn.shape == original.shape
    green = (drawn[..., 1] > 200) & (drawn[..., 0] < 100)
    assert green.any()  # the box's outline
    text = zoo_cli("predict", "--model", tmp / "out" / "straight", "--image", image)
    assert text.code == 0 and "box x1=" in text.out and "of 48x24" in text.out


def test_zoo_export_of_a_boxes_run_gives_the_same_outputs(runs, zoo_cli, tmp_path):
    from zoo.predict.loaders import load_predictor

    tmp, annotations = runs
    pytest.importorskip("onnxruntime")
    target = tmp_path / "boxes.onnx"
    result = zoo_cli("export", tmp / "out" / "straight", "--format", "onnx", "-o", target,
                     "--images", annotations.parent / "images" / "00010.png")
    if result.code == 2 and "needs" in result.err:
        pytest.skip(result.err.strip())
    assert result.code == 0, result.err
    exported = load_predictor(str(target), None, "cpu")
    assert exported.card.task == "boxes" and exported.card.outputs == 7
    keras_run = load_predictor(str(tmp / "out" / "straight"), None, "cpu")
    x = np.random.default_rng(0).integers(0, 255, (3, *exported.input_shape)).astype(np.float32)
    np.testing.assert_allclose(exported.predict(x, 3), keras_run.predict(x, 3), atol=1e-4)
    rows = zoo_cli("predict", "--model", target, "--image",
                   annotations.parent / "images" / "00010.png", "--json")
    assert rows.code == 0 and "box" in json.loads(rows.out)


def test_a_boxes_run_learns_well_above_the_best_constant_box(tmp_path):
    """Large items on small canvases, boxes only (no labels): after a few epochs, far more
    boxes reach IoU >= 0.5 than the training set's mean box does."""
    from zoo.boxes.geometry import iou
    from zoo.training.trainer import train

    annotations = make_canvases(tmp_path / "easy", 240, size=32, seed=4)
    rows = [line.split(",")[:5] for line in annotations.read_text().splitlines()[1:]]
    annotations.write_text("".join(",".join(r) + "\n" for r in rows))  # no labels
    run = train(resolve(None, _flags(annotations, tmp_path / "out", name="learn", epochs=8,
                                     augment=False, lr=0.003, monitor="val_iou",
                                     report=False)))
    metrics = json.loads((run / "metrics.json").read_text())
    # --monitor val_iou keeps the epoch of the highest validation IoU as the best model
    history = json.loads((run / "history.json").read_text())
    assert metrics["mean_iou"] == pytest.approx(max(row["val_iou"] for row in history),
                                                rel=1e-4)
    boxes = np.array([[float(v) for v in r[1:]] for r in rows])
    predicted = list(csv.DictReader((run / "box_predictions.csv").open()))
    val = np.array([[float(p[f"true_{c}"]) for c in ("x1", "y1", "x2", "y2")]
                    for p in predicted])
    constant = float((iou(val, np.broadcast_to(boxes.mean(axis=0), val.shape)) >= 0.5).mean())
    assert "class_accuracy" not in metrics
    assert metrics["iou50"] >= constant + 0.25, (metrics["iou50"], constant)


def test_the_monitor_plots_mean_iou_per_epoch(monkeypatch, tmp_path):
    import zoo.plots

    drawn = {}
    monkeypatch.setattr(zoo.plots, "_save", lambda fig, path: drawn.setdefault("fig", fig))
    history = [{"epoch": 1, "loss": 1.0, "val_loss": 1.2, "iou": 0.2, "val_iou": 0.25, "lr": 0.1},
               {"epoch": 2, "loss": 0.8, "val_loss": 0.9, "iou": 0.4, "val_iou": 0.35, "lr": 0.1}]
    zoo.plots.plot_training_curves(history, tmp_path / "m.png")
    panel = drawn["fig"].axes[1]
    assert panel.get_ylabel() == "mean IoU"
    assert [list(line.get_ydata()) for line in panel.lines] == [[0.2, 0.4], [0.25, 0.35]]


def test_the_drawn_box_lies_on_the_reported_box(tmp_path):
    """`--output` draws the box where the JSON says it is, in the image's own pixels: the
    outline's outermost pixels are the box's first and last pixels inside."""
    from zoo.boxes.predict import BoxPrediction, draw_box
    from zoo.data.images import read_image

    source = write_image(tmp_path / "wide.png", 60, 150)
    prediction = BoxPrediction(str(source), "m", (150, 60), (20.0, 10.0, 90.0, 45.0))
    drawn = read_image(draw_box(str(source), prediction, tmp_path / "out.png"), 3)
    assert drawn.shape == (60, 150, 3)
    ys, xs = np.nonzero((drawn[..., 1] > 200) & (drawn[..., 0] < 100))
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (20, 10, 89, 44)


def test_the_other_commands_know_a_boxes_run(runs, zoo_cli):
    """zoo runs calls a finished box run finished and shows its IoU; the commands written for
    classifiers (an ensemble's averaged probabilities, Grad-CAM of a class score, the range
    test and zoo check) refuse a box model in one line."""
    from zoo.runs import scan

    tmp, annotations = runs
    run = tmp / "out" / "straight"
    summary = {r.name: r for r in scan(tmp / "out")}["straight"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert summary.status == "finished" and summary.resume is None
    assert summary.mean_iou == pytest.approx(metrics["mean_iou"])
    listed = zoo_cli("runs", tmp / "out", "--sort", "mean_iou")
    assert listed.code == 0, listed.err
    line = next(x for x in listed.out.splitlines() if "straight" in x)
    assert f"IoU {metrics['mean_iou']:.4f}" in line and "finished" in line
    image = next((annotations.parent / "images").iterdir())
    refused = [
        (("evaluate", "--ensemble", run, run), "an ensemble averages class probabilities"),
        (("explain", "--model", run, "--image", image), "is a box model (--task boxes)"),
        (("lr-find", "--task", "boxes", "--model", "lenet5", "--dataset",
          f"boxes:{annotations}", "--image-size", "32,32"), "zoo lr-find is written for"),
        (("check", "--task", "boxes", "--model", "lenet5", "--dataset",
          f"boxes:{annotations}", "--image-size", "32,32"), "zoo check is written for"),
    ]
    for argv, needle in refused:
        result = zoo_cli(*argv)
        assert result.code == 2, (argv, result.err)
        assert result.err.startswith("zoo: error: ") and needle in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1, result.err


def test_a_boxes_run_without_validation_is_refused_before_training():
    from zoo.errors import ZooError

    with pytest.raises(ZooError, match="--task boxes needs --val-split above 0"):
        resolve(None, _flags(Path("a.csv"), Path("out"), val_split=0.0))
