"""The report page (zoo/report.py): written by `zoo train`, `zoo evaluate`, `zoo baseline`
and `zoo evaluate --ensemble`, rebuilt by `zoo report`; its gallery is the most confident
mistakes, in order; it opens in a real browser with every image loaded."""

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import train_in_process
from zoo.evaluation import top_losses
from zoo.report import DEFAULT_TOP, PER_CLASS, Evaluated, build_context
from zoo.run import RunDir


class Figures(HTMLParser):
    """The page's top-loss cards (`<figure data-rank=...>`), the images of each, and every
    `<img>` of the page."""

    def __init__(self):
        super().__init__()
        self.cards, self.images, self._in_card = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure" and "data-rank" in attrs:
            self._in_card = {**attrs, "img": []}
            self.cards.append(self._in_card)
        if tag == "img":
            self.images.append(attrs)
            if self._in_card is not None:
                self._in_card["img"].append(attrs)

    def handle_endtag(self, tag):
        if tag == "figure":
            self._in_card = None


def parse(page: Path) -> Figures:
    figures = Figures()
    figures.feed(page.read_text())
    return figures


# -- a run whose mistakes the test knows --------------------------------------------------------

MISLABELLED = {"dark": ["mis-bright-a", "mis-bright-b", "mis-bright-c"],
               "bright": ["mis-dark-a", "mis-dark-b"]}


def write_two_tones(root: Path) -> Path:
    """A folder dataset whose class is the brightness: `dark` (pixels near 40) and `bright`
    (near 215), 16x16 noise. train/ is clean; test/ holds 8 right images of each class and
    five mislabelled ones: bright images filed under dark/ and dark ones under bright/."""
    import cv2

    rng = np.random.default_rng(3)

    def image(level):
        return np.clip(rng.normal(level, 12, (16, 16)), 0, 255).astype(np.uint8)

    level = {"dark": 40, "bright": 215}
    for split, count in (("train", 40), ("test", 8)):
        for name in level:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                cv2.imwrite(str(folder / f"{name}-{i:02d}.png"), image(level[name]))
    for folder, names in MISLABELLED.items():
        for name in names:
            actual = "bright" if "bright" in name else "dark"
            cv2.imwrite(str(root / "test" / folder / f"{name}.png"), image(level[actual]))
    return root


@pytest.fixture(scope="module")
def two_tone_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    data = write_two_tones(root / "tones")
    return train_in_process(root / "runs", "tones", "--model", "shallownet", "--dataset",
                            f"folder:{data}", "--epochs", "4", "--batch-size", "16",
                            "--lr", "0.05", "--seed", "2", "--val-split", "0.2",
                            "--image-size", "16,16")


def test_train_writes_the_page_with_every_section(two_tone_run):
    page = two_tone_run / "report.html"
    assert page.is_file()
    text = page.read_text()
    for anchor in ("glance", "curves", "classes", "confusion", "gallery", "correct",
                   "calibration", "config"):
        assert f'id="{anchor}"' in text
    metrics = json.loads((two_tone_run / "metrics.json").read_text())
    assert f"{metrics['accuracy']:.4f}" in text
    assert f"{metrics['ece']:.4f}" in text
    # self-contained: no file, script or font from anywhere but the page itself
    assert not re.search(r'(src|href)="(https?:)?//', text)
    figures = parse(page)
    assert figures.images and all(i["src"].startswith("data:image/png;base64,")
                                  for i in figures.images)


def test_the_gallery_is_the_most_confident_mistakes_in_order(two_tone_run):
    """The five mislabelled test images are the model's only mistakes (the classes are two
    brightness levels, learnt perfectly), so the gallery is exactly them, ranked by the
    loss recomputed here from the run's own model."""
    import keras

    from zoo.data.images import read_image

    metrics = json.loads((two_tone_run / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(16 / 21)  # the model learnt the tones
    cards = parse(two_tone_run / "report.html").cards
    shown = [Path(card["data-name"]).stem for card in cards]
    assert sorted(shown) == sorted(sum(MISLABELLED.values(), []))
    for card in cards:  # each shows the image and where the model looked
        assert len(card["img"]) == 2
        assert card["data-true"] == ("dark" if "bright" in card["data-name"] else "bright")
        assert card["data-predicted"] != card["data-true"]
    model = keras.saving.load_model(two_tone_run / "model.keras", compile=False)
    names = json.loads((two_tone_run / "labels.json").read_text())["labels"]
    data = Path(metrics["dataset"].split(":", 1)[1])
    p_true = {}
    for card in cards:
        image = read_image(data / "test" / card["data-true"] / card["data-name"], 3)
        probs = np.asarray(model.predict(image[None].astype("float32") / 255.0, verbose=0))
        p_true[card["data-name"]] = float(probs[0, names.index(card["data-true"])])
    ranked = [float(card["data-p-true"]) for card in cards]
    assert ranked == sorted(ranked)  # highest loss (lowest p(true)) first
    for card in cards:
        assert float(card["data-p-true"]) == pytest.approx(p_true[card["data-name"]],
                                                           abs=1e-4)


def test_zoo_report_rebuilds_the_page_and_writes_elsewhere(two_tone_run, zoo_cli, tmp_path):
    page = two_tone_run / "report.html"
    before = parse(page).cards
    other = tmp_path / "pages" / "tones.html"
    other.parent.mkdir()
    result = zoo_cli("report", two_tone_run, "-o", other, "--top", "3")
    assert result.code == 0, result.err
    assert result.out.strip().splitlines()[-1] == str(other)
    cards = parse(other).cards
    assert [c["data-name"] for c in cards] == [c["data-name"] for c in before][:3]
    assert page.is_file()  # the run's own page is left alone


@pytest.mark.parametrize("argv, message", [
    (["-o", "page.png"], "ending in .html"),
    (["--top", "-1"], "--top must be 0 or more"),
    (["--cam-layer", "conv2d_nope"], "conv2d_nope"),
])
def test_zoo_report_refuses_bad_input_in_one_line(two_tone_run, zoo_cli, tmp_path, argv,
                                                 message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = zoo_cli("report", two_tone_run, *argv)
    assert result.code == 2
    assert result.err.startswith("zoo: error: ") and result.err.count("\n") == 1
    assert message in result.err
    assert "Traceback" not in result.err


def test_zoo_report_of_no_run_is_one_line(zoo_cli, tmp_path):
    result = zoo_cli("report", tmp_path / "nothing")
    assert result.code == 2 and "no such run directory" in result.err
    result = zoo_cli("report", tmp_path)
    assert result.code == 2 and "is not a run directory" in result.err


# -- the page's parts, on predictions the test makes ----------------------------------------


def test_the_page_reads_back_only_the_images_it_shows(trained_run):
    """Memory does not grow with the split: images are read by position, the gallery's and
    the grid's only."""
    rng = np.random.default_rng(0)
    n, classes = 5000, 10
    probs = rng.dirichlet(np.ones(classes), n)
    labels = rng.integers(0, classes, n)
    asked = []

    def read(positions):
        asked.append(len(positions))
        images = np.zeros((len(positions), 8, 8, 1), np.uint8)
        return images, None, np.ones(len(positions), bool)

    evaluated = Evaluated(probs, labels, [str(c) for c in range(classes)], "test", read)
    context = build_context(RunDir(trained_run), evaluated)
    assert len(context["gallery"]["items"]) == DEFAULT_TOP
    assert asked == [DEFAULT_TOP, classes * PER_CLASS]
    expected = top_losses(probs, labels, DEFAULT_TOP)
    assert [item["p_true"] for item in context["gallery"]["items"]] == \
        [float(probs[i, labels[i]]) for i in expected]
    assert context["metrics"]["ece"] == pytest.approx(
        __import__("zoo.evaluation", fromlist=["x"]).expected_calibration_error(probs, labels))
    assert context["cam"]["layer"] is None  # no model given: no Grad-CAM, and it says why
    assert context["cam"]["note"]


def test_the_diagnosis_reads_the_best_epoch(trained_run):
    probs = np.eye(10)[np.arange(40) % 10] * 0.9 + 0.01
    labels = np.arange(40) % 10
    context = build_context(RunDir(trained_run), Evaluated(probs, labels,
                                                           [str(c) for c in range(10)],
                                                           "test"))
    history = json.loads((trained_run / "history.json").read_text())
    diagnosis = context["diagnosis"]
    assert diagnosis["train"] == pytest.approx(1 - history[0]["accuracy"])
    assert diagnosis["val"] == pytest.approx(1 - history[0]["val_accuracy"])
    assert diagnosis["test"] == pytest.approx(0.0)
    assert [row["name"] for row in context["per_class"]] == [str(c) for c in range(10)]


# -- the other kinds of run ---------------------------------------------------------------------


def test_a_features_run_has_the_page_without_gradcam(zoo_cli, tmp_path):
    result = zoo_cli("baseline", "--features", "pixels", "--dataset", "digits", "--limit",
                     "120", "--classifier", "logreg", "--output", tmp_path, "--name", "px")
    assert result.code == 0, result.err
    page = tmp_path / "px" / "report.html"
    text = html.unescape(page.read_text())
    assert "No Grad-CAM" in text and "not a convolutional network" in text
    metrics = json.loads((tmp_path / "px" / "metrics.json").read_text())
    assert f"{metrics['accuracy']:.4f}" in text
    figures = parse(page)
    wrong = round((1 - metrics["accuracy"]) * metrics["images"])
    assert len(figures.cards) == min(wrong, DEFAULT_TOP)
    assert all(len(card["img"]) == 1 for card in figures.cards)  # the image, no overlay


def test_an_ensemble_page_sets_its_members_side_by_side(trained_run, tmp_path, zoo_cli):
    import shutil

    twin = Path(shutil.copytree(trained_run, tmp_path / "twin"))
    result = zoo_cli("evaluate", "--ensemble", trained_run, twin, "--output",
                     tmp_path / "ens")
    assert result.code == 0, result.err
    text = html.unescape((tmp_path / "ens" / "report.html").read_text())
    assert 'id="members-table"' in text
    assert str(trained_run) in text and str(twin) in text
    assert "each member's own report" in text


# -- in a real browser --------------------------------------------------------------------------


def test_the_page_in_headless_chromium(two_tone_run, tmp_path):
    from tests.browser import open_page, require_chromium

    require_chromium()
    page = open_page(two_tone_run / "report.html", tmp_path / "report.png")
    assert page.images and not page.broken
    assert not page.console_errors, page.console_errors
    assert not page.failed_requests
    metrics = json.loads((two_tone_run / "metrics.json").read_text())
    assert f"{metrics['accuracy']:.4f}" in page.text
    assert f"ECE\n{metrics['ece']:.4f}" in page.text or f"{metrics['ece']:.4f}" in page.text
    assert "Top losses" in page.text and "Calibration" in page.text
    assert page.screenshot.is_file() and page.screenshot.stat().st_size > 20_000


# -- what the reviewer found ------------------------------------------------------------------


def test_the_page_leaves_out_the_history_row_no_checkpoint_saved(trained_run_copy):
    """history.json is written before checkpoint/state.json commits the epoch: a run killed
    between the two has a row that is not part of the run."""
    from zoo.report import _saved_history

    history = json.loads((trained_run_copy / "history.json").read_text())
    ghost = {**history[-1], "epoch": len(history) + 1, "val_loss": 0.0001}
    (trained_run_copy / "history.json").write_text(json.dumps(history + [ghost]))
    (trained_run_copy / "metrics.json").unlink()
    assert _saved_history(RunDir(trained_run_copy)) == history


def test_a_failing_grad_cam_leaves_the_page_with_a_note(trained_run, monkeypatch):
    import keras

    import zoo.gradcam

    def broken(*args, **kwargs):
        raise RuntimeError("a layer this Grad-CAM cannot trace")

    monkeypatch.setattr(zoo.gradcam, "gradcam", broken)
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(10), 50)
    labels = rng.integers(0, 10, 50)

    def read(positions):
        n = len(positions)
        return np.zeros((n, 8, 8, 1), np.uint8), np.zeros((n, 8, 8, 1), np.float32), \
            np.ones(n, bool)

    model = keras.saving.load_model(trained_run / "model.keras", compile=False)
    context = build_context(RunDir(trained_run), Evaluated(
        probs, labels, [str(c) for c in range(10)], "test", read, model=model))
    assert context["cam"]["layer"] is None
    assert "Grad-CAM failed" in context["cam"]["note"] and "cannot trace" in \
        context["cam"]["note"]
    assert context["gallery"]["items"] and all(i["src"] and i["cam"] is None
                                               for i in context["gallery"]["items"])


def test_an_ensemble_with_relative_member_paths_reports_from_its_folder(trained_run,
                                                                         tmp_path, zoo_cli,
                                                                         monkeypatch):
    import shutil

    shutil.copytree(trained_run, tmp_path / "a")
    shutil.copytree(trained_run, tmp_path / "b")
    monkeypatch.chdir(tmp_path)
    assert zoo_cli("evaluate", "--ensemble", "a", "b", "--output", "ens").code == 0
    members = json.loads((tmp_path / "ens" / "metrics.json").read_text())["members"]
    assert [m["run"] for m in members] == [str(tmp_path / "a"), str(tmp_path / "b")]
    # an ensemble recorded before paths were absolute: relative to the ensemble's parent
    metrics = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    metrics["members"] = [{**m, "run": Path(m["run"]).name} for m in members]
    (tmp_path / "ens" / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.chdir(tmp_path / "ens")
    result = zoo_cli("report", ".", "-o", "again.html")
    assert result.code == 0, result.err
    assert 'id="members-table"' in (tmp_path / "ens" / "again.html").read_text()


def test_a_moved_baseline_run_reports_from_its_own_features_file(zoo_cli, tmp_path):
    import shutil

    result = zoo_cli("baseline", "--features", "pixels", "--dataset", "digits", "--limit",
                     "60", "--classifier", "knn", "--output", tmp_path, "--name", "px")
    assert result.code == 0, result.err
    moved = Path(shutil.move(tmp_path / "px", tmp_path / "archived"))
    result = zoo_cli("report", moved, "-o", tmp_path / "moved.html", "--split", "val")
    assert result.code == 0, result.err
    assert "val split" in (tmp_path / "moved.html").read_text()
    result = zoo_cli("report", moved, "--dataset", "digits")
    assert result.code == 2 and "is a features run" in result.err
