"""zoo predict against the reference pipeline (load_img -> the model's preprocess_input ->
predict), with random weights made informative so a preprocessing mistake would show."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import write_folder
from zoo.inference import imagenet_classes
from zoo.models import build_model, get_spec
from zoo.models.applications import preprocess_module


def photos() -> list[str]:
    import sklearn

    folder = Path(sklearn.__file__).parent / "datasets" / "images"
    return [str(folder / "china.jpg"), str(folder / "flower.jpg")]


def reference_probs(model, name, paths):
    import keras

    size = get_spec(name).input_shape[:2]
    batch = np.stack([keras.utils.img_to_array(keras.utils.load_img(p, target_size=size))
                      for p in paths])
    return model.predict(preprocess_module(name).preprocess_input(batch), verbose=0)


def calibrated_weights(name, tmp_path) -> tuple[Path, object]:
    """Random weights whose outputs depend strongly on the input: batch-norm statistics set
    from real images (momentum 0, one forward pass in training mode), the classifier scaled
    so the reference's top classes are far apart."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_model(name)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    size = get_spec(name).input_shape[:2]
    batch = np.stack([keras.utils.img_to_array(keras.utils.load_img(p, target_size=size))
                      for p in photos()])
    model(preprocess_module(name).preprocess_input(batch), training=True)
    head = model.layers[-1]
    kernel = keras.ops.convert_to_numpy(head.kernel)
    features = keras.Model(model.input, head.input)(preprocess_module(name).preprocess_input(
        batch.copy()))
    logits = keras.ops.convert_to_numpy(features) @ kernel
    head.kernel.assign(kernel * (8.0 / max(float(logits.std()), 1e-6)))
    path = tmp_path / f"{name}.weights.h5"
    model.save_weights(path)
    return path, model


MODELS = ["mobilenetv2", "resnet50", "densenet121", "efficientnetb0", "inceptionv3",
          pytest.param("vgg16", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", MODELS)
def test_cli_matches_the_reference_pipeline(name, zoo_cli, tmp_path):
    weights, model = calibrated_weights(name, tmp_path)
    expected = reference_probs(model, name, photos())
    top_ref = np.argsort(-expected, axis=1)[:, :5]
    assert not np.array_equal(top_ref[0], top_ref[1])  # two images rank differently
    assert expected[0, top_ref[0, 0]] - expected[0, top_ref[0, 4]] > 0.01  # well apart

    result = zoo_cli("predict", "--image", *photos(), "--model", name, "--weights", weights,
                     "--json", "--top", "5", "--device", "cpu")
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [line["image"] for line in lines] == photos()
    for line, ref, probs in zip(lines, top_ref, expected, strict=True):
        assert [p["index"] for p in line["predictions"]] == ref.tolist()
        np.testing.assert_allclose([p["probability"] for p in line["predictions"]],
                                   probs[ref], rtol=1e-4, atol=1e-6)
        first = line["predictions"][0]
        assert (first["wnid"], first["label"]) == imagenet_classes()[first["index"]]
        assert first["rank"] == 1 and line["model"] == name


def test_bundled_class_index():
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert classes[0] == ("n01440764", "tench") and classes[281] == ("n02123045", "tabby")


def test_grayscale_and_rgba_images_become_rgb(zoo_cli, tmp_path):
    from PIL import Image

    weights, _ = calibrated_weights("mobilenetv2", tmp_path)
    rgb = Image.open(photos()[0]).convert("RGB")
    rgb.convert("L").save(tmp_path / "gray.png")
    rgba = rgb.convert("RGBA")
    rgba.save(tmp_path / "rgba.png")
    result = zoo_cli("predict", "--image", tmp_path / "gray.png", tmp_path / "rgba.png",
                     "--model", "mobilenetv2", "--weights", weights, "--json")
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 2


def test_directories_globs_corrupt_images_and_annotations(zoo_cli, tmp_path):
    import cv2

    weights, _ = calibrated_weights("mobilenetv2", tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    for p in photos():
        (images / Path(p).name).write_bytes(Path(p).read_bytes())
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "annotated"
    result = zoo_cli("predict", "--image", images, str(tmp_path / "images" / "*.jpg"),
                     "--model", "mobilenetv2", "--weights", weights, "--json",
                     "--output", out, "--batch-size", "2")
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 4  # two photos, found twice
    assert result.err.count("skipped") == 2 and "broken.jpg" in result.err
    annotated = cv2.imread(str(out / "china.jpg"))
    original = cv2.imread(photos()[0])
    assert annotated.shape == original.shape
    assert (np.abs(annotated.astype(int) - original.astype(int)).sum(axis=2) > 60).mean() > 0.002


def test_no_classifiable_image_exits_1(zoo_cli, tmp_path):
    weights, _ = calibrated_weights("mobilenetv2", tmp_path)
    (tmp_path / "bad.png").write_text("nope")
    result = zoo_cli("predict", "--image", tmp_path / "bad.png", "--model", "mobilenetv2",
                     "--weights", weights)
    assert result.code == 1 and "no image could be classified" in result.err


def test_offline_weights_error_names_the_file(zoo_cli, monkeypatch, tmp_path):
    import keras

    def offline(fname, origin=None, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure "
                        "in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("keras.src.applications.mobilenet_v2.file_utils.get_file", offline)
    result = zoo_cli("predict", "--image", photos()[0], "--model", "mobilenetv2")
    assert result.code == 1
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5" in result.err
    assert ".keras/models" in result.err and "--weights" in result.err


def test_gpu_on_a_cpu_machine_is_a_clear_error(zoo_cli, monkeypatch):
    monkeypatch.setattr("zoo.backend.gpu_available", lambda: False)
    result = zoo_cli("predict", "--image", photos()[0], "--model", "mobilenetv2",
                     "--device", "gpu")
    assert result.code == 2 and "no GPU" in result.err


def test_a_trained_run_predicts_with_its_own_labels(zoo_cli, tmp_path):
    root, _ = write_folder(tmp_path / "animals", broken=False)
    zoo_cli("train", "--model", "shallownet", "--dataset", f"folder:{root}", "--image-size",
            "24,24", "--epochs", "1", "--output", tmp_path, "--name", "run",
            "--checkpoint-every", "1")
    result = zoo_cli("predict", "--image", root / "dogs", "--model", tmp_path / "run",
                     "--json", "--top", "2")
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert len(lines) == 8 and lines[0]["model"] == "run"
    assert {p["label"] for line in lines for p in line["predictions"]} <= {"cats", "dogs",
                                                                          "pandas"}
    assert len(lines[0]["predictions"]) == 2 and "wnid" not in lines[0]["predictions"][0]
    periodic = tmp_path / "run" / "checkpoint" / "periodic-0001.keras"
    result = zoo_cli("predict", "--image", root / "dogs", "--model", periodic, "--json",
                     "--top", "3")
    assert result.code == 0 and result.err == "", result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert lines[0]["model"] == "run/checkpoint/periodic-0001.keras"
    assert {p["label"] for p in lines[0]["predictions"]} == {"cats", "dogs", "pandas"}


# -- runs, checkpoints and bare model files ---------------------------------------------------

ODD = Path("/work/shared/data/odd-images")
NAMES = ["cats", "dogs", "pandas"]
MEAN = (100.0, 110.0, 120.0)


def make_run(root: Path, shape=(24, 24, 3)):
    """A run directory as `zoo train` leaves it, for predict: labels.json (named classes, raw
    pixels minus a mean), config.yaml, model.keras and an epoch checkpoint. Made directly
    (seconds) rather than trained; `test_a_trained_run_predicts_with_its_own_labels` trains."""
    import keras

    from zoo.card import ModelCard
    from zoo.run import RunDir

    keras.utils.set_random_seed(1)
    model = build_model("shallownet", input_shape=shape, num_classes=len(NAMES))
    run = RunDir.create(root, "run")
    run.config_file.write_text("model: shallownet\ndataset: folder:animals\n")
    run.write_card(ModelCard(NAMES, shape, preprocessing="raw", mean=MEAN, dataset="folder"))
    model.save(run.best_model)
    run.checkpoint_dir.mkdir()
    model.save(run.epoch_model(1))
    return run, model


def small_reference(model, paths, preprocess, crop=False):
    """keras' load_img/img_to_array at the model's size (or the crop the seed script did),
    then `preprocess`, then the model."""
    import keras

    from zoo.data.preprocessing import resize_and_crop

    size = model.input_shape[1:3]
    if crop:
        batch = np.stack([resize_and_crop(keras.utils.img_to_array(keras.utils.load_img(p))
                                          .astype(np.uint8), size) for p in paths])
    else:
        batch = np.stack([keras.utils.img_to_array(keras.utils.load_img(p, target_size=size))
                          for p in paths])
    return model.predict(preprocess(batch.astype("float32")), verbose=0)


def probabilities(line: dict) -> np.ndarray:
    probs = np.zeros(len(line["predictions"]))
    for p in line["predictions"]:
        probs[p["index"]] = p["probability"]
    return probs


@pytest.mark.parametrize("crop", [False, True])
def test_a_checkpoint_predicts_with_its_runs_labels_and_preprocessing(zoo_cli, tmp_path, crop):
    run, model = make_run(tmp_path)
    checkpoint = run.epoch_model(1)
    result = zoo_cli("predict", "--image", *photos(), "--model", checkpoint, "--json",
                     "--top", "3", *(["--crop"] if crop else []))
    assert result.code == 0, result.err
    assert result.err == ""
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [line["model"] for line in lines] == ["run/checkpoint/epoch-0001.keras"] * 2
    expected = small_reference(model, photos(), lambda x: x - np.array(MEAN, "float32"), crop)
    for line, probs in zip(lines, expected, strict=True):
        assert {p["label"] for p in line["predictions"]} == set(NAMES)
        assert all(p["label"] == NAMES[p["index"]] for p in line["predictions"])
        np.testing.assert_allclose(probabilities(line), probs, rtol=1e-4, atol=1e-6)
    scaled = small_reference(model, photos(), lambda x: x / 255.0, crop)
    assert np.abs(scaled - expected).max() > 1e-3  # the preprocessing matters to this model


def test_a_bare_model_file_says_it_has_no_run(zoo_cli, tmp_path):
    run, model = make_run(tmp_path / "runs")
    bare = tmp_path / "elsewhere" / "bare.keras"
    bare.parent.mkdir()
    bare.write_bytes(run.epoch_model(1).read_bytes())
    result = zoo_cli("predict", "--image", *photos(), "--model", bare, "--json", "--top", "3")
    assert result.code == 0, result.err
    assert result.err == (f"zoo: warning: {bare} is not inside a run directory: classes are "
                          "numbered and pixels scaled to [0, 1]\n")
    lines = [json.loads(line) for line in result.out.splitlines()]
    expected = small_reference(model, photos(), lambda x: x / 255.0)
    for line, probs in zip(lines, expected, strict=True):
        assert line["model"] == "bare"
        assert {p["label"] for p in line["predictions"]} == {"0", "1", "2"}
        np.testing.assert_allclose(probabilities(line), probs, rtol=1e-4, atol=1e-6)


def test_weights_that_do_not_fit_a_run_are_one_line_and_exit_2(zoo_cli, tmp_path):
    import keras

    run, _ = make_run(tmp_path / "runs")
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    other.save_weights(tmp_path / "other.weights.h5")
    for weights, needle in ((tmp_path / "other.weights.h5", "does not fit"),
                            (tmp_path / "missing.weights.h5", "weights file not found")):
        result = zoo_cli("predict", "--image", *photos(), "--model", run.path,
                         "--weights", weights)
        assert result.code == 2 and needle in result.err and result.err.count("\n") == 1


@pytest.mark.skipif(not ODD.is_dir(), reason=f"{ODD} is not on this machine")
def test_predict_over_odd_images_skips_exactly_the_broken_ones(zoo_subprocess, tmp_path):
    run, _ = make_run(tmp_path)
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


def test_annotations_of_same_named_images_do_not_overwrite(zoo_cli, tmp_path):
    import cv2

    run, _ = make_run(tmp_path / "runs")
    for folder, photo in (("a", photos()[0]), ("b", photos()[1])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.jpg").write_bytes(Path(photo).read_bytes())
    out = tmp_path / "annotated"
    result = zoo_cli("predict", "--image", tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg",
                     tmp_path / "a" / "x.jpg", "--model", run.path, "--output", out, "--json")
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 3
    assert sorted(p.name for p in out.iterdir()) == ["x-2.jpg", "x.jpg"]
    china, flower = (cv2.imread(p).astype(int) for p in photos())
    for name, own, other in (("x.jpg", china, flower), ("x-2.jpg", flower, china)):
        annotated = cv2.imread(str(out / name)).astype(int)
        assert annotated.shape == own.shape
        label = np.abs(annotated - own)[:40, :300].sum(axis=2) > 60
        assert label.mean() > 0.1  # the label drawn at the top left
        assert np.abs(annotated - own)[60:].mean() < 3  # below it, this photo
        assert np.abs(annotated - other)[60:].mean() > 20  # not the other one


@pytest.mark.skipif(not ODD.is_dir(), reason=f"{ODD} is not on this machine")
def test_annotations_of_odd_formats_show_the_photo(zoo_cli, tmp_path):
    from zoo.data.images import read_image

    run, _ = make_run(tmp_path / "runs")
    out = tmp_path / "annotated"
    inputs = [ODD / "good.gif", ODD / "good_cmyk.jpg", ODD / "good_16bit_gray.png"]
    result = zoo_cli("predict", "--image", *inputs, "--model", run.path, "--output", out)
    assert result.code == 0, result.err
    for source in inputs:
        annotated = read_image(out / source.name).astype(int)
        original = read_image(source).astype(int)
        assert annotated.shape == original.shape
        assert np.abs(annotated - original)[:36].mean() > 20  # the label drawn
        assert np.abs(annotated - original)[40:].mean() < 6  # below it, the photo
