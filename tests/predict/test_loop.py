"""The predict loop (`zoo.predict.loop`): images found, decoded, batched, unreadable ones
skipped and reported, top-k rows; through `zoo predict` and as the library generator."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.predict.helpers import NAMES, ODD, photos
from zoo.predict.loaders import load_predictor
from zoo.predict.loop import Prediction, Skipped, expand_images, predict_images


def test_grayscale_and_rgba_images_become_rgb(zoo_cli, predict_run, tmp_path):
    from PIL import Image

    run, _ = predict_run
    rgb = Image.open(photos()[0]).convert("RGB")
    rgb.convert("L").save(tmp_path / "gray.png")
    rgba = rgb.convert("RGBA")
    rgba.save(tmp_path / "rgba.png")
    result = zoo_cli("predict", "--image", tmp_path / "gray.png", tmp_path / "rgba.png",
                     "--model", run.path, "--json")
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 2


def test_directories_globs_corrupt_images_and_annotations(zoo_cli, predict_run, tmp_path):
    import cv2

    run, _ = predict_run
    images = tmp_path / "images"
    images.mkdir()
    for p in photos():
        (images / Path(p).name).write_bytes(Path(p).read_bytes())
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "annotated"
    result = zoo_cli("predict", "--image", images, str(tmp_path / "images" / "*.jpg"),
                     "--model", run.path, "--json", "--output", out, "--batch-size", "2")
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 4  # two photos, found twice
    assert result.err.count("skipped") == 2 and "broken.jpg" in result.err
    annotated = cv2.imread(str(out / "china.jpg"))
    original = cv2.imread(photos()[0])
    assert annotated.shape == original.shape
    assert (np.abs(annotated.astype(int) - original.astype(int)).sum(axis=2) > 60).mean() > 0.002


def test_no_classifiable_image_exits_1(zoo_cli, predict_run, tmp_path):
    run, _ = predict_run
    (tmp_path / "bad.png").write_text("nope")
    result = zoo_cli("predict", "--image", tmp_path / "bad.png", "--model", run.path)
    assert result.code == 1 and "no image could be classified" in result.err


@pytest.mark.skipif(not ODD.is_dir(), reason=f"{ODD} is not on this machine")
def test_predict_over_odd_images_skips_exactly_the_broken_ones(zoo_subprocess, predict_run):
    run, _ = predict_run
    result = zoo_subprocess("predict", "--image", ODD, "--model", run.path, "--json",
                            "--batch-size", "4")
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert sorted(Path(line["image"]).name for line in lines) == sorted(
        p.name for p in ODD.glob("good*"))
    reasons = {"bad_empty.jpg": "empty file",
               "bad_header_only.png": "truncated or corrupt PNG data",
               "bad_html.jpg": "not an image (HTML page)",
               "bad_text.jpg": "not an image (text)",
               "bad_truncated.jpg": "truncated image data",
               "bad_truncated.png": "truncated image data"}
    assert result.err.splitlines() == [f"zoo: warning: skipped {ODD / name}: {reason}"
                                       for name, reason in sorted(reasons.items())]


def test_the_generator_yields_results_and_skips_in_input_order(predict_run, tmp_path):
    """Paths and `(name, array)` pairs mix; a batch's skipped come first, then its results;
    each result has the full probabilities and its top-k rows."""
    run, _ = predict_run
    predictor = load_predictor(run.path, device="cpu")
    (tmp_path / "bad.png").write_text("nope")
    array = np.full((24, 24, 3), 128, np.float32)
    items = list(predict_images(predictor, [photos()[0], str(tmp_path / "bad.png"),
                                            ("grey", array), photos()[1]], batch_size=3,
                                top=2))
    assert [type(i).__name__ for i in items] == ["Skipped", "Prediction", "Prediction",
                                                 "Prediction"]
    assert items[0] == Skipped(str(tmp_path / "bad.png"), "not an image (text)")
    assert [i.image for i in items[1:]] == [photos()[0], "grey", photos()[1]]
    grey = items[2]
    assert isinstance(grey, Prediction) and grey.probabilities.shape == (len(NAMES),)
    # one forward pass, batched 3 vs 1: float32 rounding in another order, nothing more
    np.testing.assert_allclose(grey.probabilities, predictor.predict(array[None], 1)[0],
                               rtol=1e-4, atol=1e-6)
    assert [r["rank"] for r in grey.predictions] == [1, 2]
    assert grey.predictions[0]["index"] == int(np.argmax(grey.probabilities))
    assert grey.to_json() == {"image": "grey", "model": "run", "predictions": grey.predictions}


def test_expand_images_finds_files_folders_and_globs(tmp_path):
    from zoo.errors import ZooError

    (tmp_path / "a").mkdir()
    for name in ("a/x.jpg", "a/y.png", "a/notes.txt", "z.jpg"):
        (tmp_path / name).write_bytes(b"")
    assert expand_images([str(tmp_path / "a"), str(tmp_path / "*.jpg")]) == [
        str(tmp_path / "a" / "x.jpg"), str(tmp_path / "a" / "y.png"), str(tmp_path / "z.jpg")]
    with pytest.raises(ZooError, match="no images found"):
        expand_images([str(tmp_path / "*.gif")])
