"""`zoo explain`: a three-panel PNG per image and a line (or a JSON object) each, `--class`,
unreadable images skipped as `zoo predict` skips them, and the one-line refusals."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import write_images
from tests.predict.helpers import NAMES, make_run


@pytest.fixture(scope="module")
def explain_run(tmp_path_factory):
    """A shallownet run with named classes (`make_run`, 24x24x3, raw pixels minus a mean)
    and three images of other sizes; the tests only read them."""
    root = tmp_path_factory.mktemp("explain")
    run, _ = make_run(root)
    images = write_images(root / "images", ["a.png", "b.jpg", "c.png"], size=(30, 40))
    return run.path, images


def _png_size(path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def test_a_png_of_three_panels_and_a_line_per_image(zoo_cli, explain_run, tmp_path):
    run, images = explain_run
    out = tmp_path / "maps"
    result = zoo_cli("explain", "--image", *images[:2], "--model", run, "--output", out)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 2
    for line, image in zip(lines, images[:2], strict=True):
        png = out / f"{image.stem}_gradcam.png"
        assert line.startswith(f"{image}: ") and line.endswith(f" -> {png}")
        assert " peak (" in line and line.split(": ")[1].split()[0] in NAMES
        width, height = _png_size(png)
        assert width >= 2.4 * height  # three panels side by side


def test_json_is_one_list_with_the_keys(zoo_cli, explain_run, tmp_path):
    run, images = explain_run
    result = zoo_cli("explain", "--image", *images, "--model", run, "--output", tmp_path,
                     "--json", "--top", "2")
    assert result.code == 0, result.err
    explained = json.loads(result.out)  # the whole of stdout
    assert [item["image"] for item in explained] == [str(p) for p in images]
    for item in explained:
        assert set(item) == {"image", "class", "probability", "top", "peak", "map", "layer"}
        assert item["layer"] == "conv1_relu"  # shallownet's one convolution, rectified
        assert len(item["top"]) == 2 and item["top"][0]["class"] == item["class"]
        assert item["probability"] == item["top"][0]["probability"] >= 1 / len(NAMES)
        assert item["top"][0]["probability"] >= item["top"][1]["probability"]
        assert all(0 <= v < 24 for v in item["peak"])  # pixels of the model's 24x24 input
        assert Path(item["map"]).is_file()


def test_class_explains_the_class_named(zoo_cli, explain_run, tmp_path):
    run, images = explain_run
    result = zoo_cli("explain", "--image", *images, "--model", run, "--output", tmp_path,
                     "--json", "--class", "pandas")
    assert result.code == 0, result.err
    explained = json.loads(result.out)
    assert [item["class"] for item in explained] == ["pandas"] * 3
    for item in explained:
        p = {row["class"]: row["probability"] for row in item["top"]}
        assert item["probability"] == pytest.approx(p["pandas"], rel=1e-6)

    result = zoo_cli("explain", "--image", images[0], "--model", run, "--class", "panda")
    assert result.code == 2 and result.out == ""
    assert result.err.splitlines() == [
        f"zoo: error: --class panda: not a class of {run}; did you mean pandas?"]


def test_unreadable_images_are_skipped_as_predict_skips_them(zoo_cli, explain_run, tmp_path):
    run, images = explain_run
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    missing = tmp_path / "missing.png"
    out = tmp_path / "maps"
    result = zoo_cli("explain", "--image", tmp_path / "broken.jpg", images[0], missing,
                     "--model", run, "--output", out, "--json")
    assert result.code == 0, result.err
    assert [item["image"] for item in json.loads(result.out)] == [str(images[0])]
    warnings = result.err.splitlines()
    assert len(warnings) == 2
    assert warnings[0].startswith(f"zoo: warning: skipped {tmp_path / 'broken.jpg'}: ")
    assert warnings[1].startswith(f"zoo: warning: skipped {missing}: cannot read the file")
    assert sorted(p.name for p in out.iterdir()) == ["a_gradcam.png"]

    result = zoo_cli("explain", "--image", tmp_path / "broken.jpg", "--model", run,
                     "--output", out)
    assert result.code == 1 and "no image could be explained (1 unreadable)" in result.err


def test_models_that_cannot_be_explained_exit_2_in_one_line(zoo_cli, explain_run, tmp_path):
    import keras

    run, images = explain_run
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    keras.Model(inputs, outputs).save(tmp_path / "mlp.keras")
    features = tmp_path / "features-run"
    features.mkdir()
    (features / "features.json").write_text("{}")
    cases = {
        tmp_path / "nothing.keras": f"model file not found: {tmp_path / 'nothing.keras'}",
        tmp_path / "nothing.onnx": f"model file not found: {tmp_path / 'nothing.onnx'}",
        tmp_path / "mlp.keras": f"{tmp_path / 'mlp.keras'} has no convolutional layer; "
                                "Grad-CAM needs one",
        features: f"{features} is a features run",
    }
    for model, message in cases.items():
        result = zoo_cli("explain", "--image", images[0], "--model", model)
        assert result.code == 2, (model, result.err)
        assert len(result.err.splitlines()) == 1 and result.out == ""
        assert result.err.startswith(f"zoo: error: {message}"), result.err

    result = zoo_cli("explain", "--image", images[0], "--model", run, "--layer", "conv1_rel")
    assert result.code == 2 and len(result.err.splitlines()) == 1
    assert "--layer conv1_rel: no such layer" in result.err and "did you mean conv1_relu" in \
        result.err


def test_same_stems_get_their_own_pngs(zoo_cli, explain_run, tmp_path):
    run, images = explain_run
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.png").write_bytes(images[1].read_bytes())  # another picture, the same stem
    out = tmp_path / "maps"
    result = zoo_cli("explain", "--image", images[0], other / "a.png", images[0], "--model",
                     run, "--output", out, "--json")
    assert result.code == 0, result.err
    maps = [item["map"] for item in json.loads(result.out)]
    assert maps == [str(out / "a_gradcam.png"), str(out / "a-2_gradcam.png"),
                    str(out / "a_gradcam.png")]
    from PIL import Image

    first, second = (np.asarray(Image.open(m)) for m in maps[:2])
    assert first.shape == second.shape and (first != second).any()
