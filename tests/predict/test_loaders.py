"""The loaders of zoo.predict, through `zoo predict`: ImageNet models against the reference
pipeline (load_img -> the model's preprocess_input -> predict), with random weights made
informative so a preprocessing mistake would show; runs, checkpoints and bare model files;
the one table that tells the kinds apart."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import write_folder
from tests.predict.helpers import (
    MEAN,
    NAMES,
    assert_same_ranking,
    calibrated,
    photos,
    probabilities,
    small_reference,
)
from zoo.card import imagenet_classes
from zoo.predict.loaders import KINDS, kind_of, load_predictor

MODELS = ["mobilenetv2", "resnet50", "densenet121", "efficientnetb0", "inceptionv3",
          pytest.param("vgg16", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", MODELS)
def test_cli_matches_the_reference_pipeline(name, zoo_cli):
    weights, expected = calibrated(name)
    top_ref = np.argsort(-expected, axis=1)[:, :5]
    assert not np.array_equal(top_ref[0], top_ref[1])  # two images rank differently
    assert expected[0, top_ref[0, 0]] - expected[0, top_ref[0, 4]] > 0.01  # well apart

    result = zoo_cli("predict", "--image", *photos(), "--model", name, "--weights", weights,
                     "--json", "--top", "5", "--device", "cpu")
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [line["image"] for line in lines] == photos()
    for line, probs in zip(lines, expected, strict=True):
        # graph (the reference) and eager (zoo predict's first images) kernels: one forward
        # pass apart by rounding, so ranks may swap only inside a near-tie
        ranked = [p["index"] for p in line["predictions"]]
        assert_same_ranking(probs, ranked, 1e-4)
        np.testing.assert_allclose([p["probability"] for p in line["predictions"]],
                                   probs[ranked], rtol=1e-4, atol=1e-6)
        first = line["predictions"][0]
        assert (first["wnid"], first["label"]) == imagenet_classes()[first["index"]]
        assert first["rank"] == 1 and line["model"] == name


def test_offline_weights_error_names_the_file(zoo_cli, monkeypatch):
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


@pytest.mark.parametrize("crop", [None, False, True])
def test_a_checkpoint_predicts_with_its_runs_labels_and_preprocessing(zoo_cli, predict_run,
                                                                       crop, monkeypatch):
    import zoo.predict.loop

    crops, read = [], zoo.predict.loop.read_images
    monkeypatch.setattr(zoo.predict.loop, "read_images", lambda paths, shape, crop=False:
                        crops.append(crop) or read(paths, shape, crop))
    run, model = predict_run
    checkpoint = run.epoch_model(1)
    flags = {None: [], False: ["--no-crop"], True: ["--crop"]}[crop]
    result = zoo_cli("predict", "--image", *photos(), "--model", checkpoint, "--json",
                     "--top", "3", *flags)
    assert result.code == 0, result.err
    assert result.err == ""
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [line["model"] for line in lines] == ["run/checkpoint/epoch-0001.keras"] * 2
    # a run's model meets a photo as its training and evaluation did (crop) unless told
    centre = crop is not False
    assert crops == [centre]
    expected = small_reference(model, photos(), lambda x: x - np.array(MEAN, "float32"), centre)
    for line, probs in zip(lines, expected, strict=True):
        assert {p["label"] for p in line["predictions"]} == set(NAMES)
        assert all(p["label"] == NAMES[p["index"]] for p in line["predictions"])
        np.testing.assert_allclose(probabilities(line), probs, rtol=1e-4, atol=1e-6)
    scaled = small_reference(model, photos(), lambda x: x / 255.0, centre)
    assert np.abs(scaled - expected).max() > 1e-3  # the preprocessing matters to this model


def test_a_bare_model_file_says_it_has_no_run(zoo_cli, predict_run, tmp_path):
    run, model = predict_run
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


def test_weights_that_do_not_fit_a_run_are_one_line_and_exit_2(zoo_cli, predict_run,
                                                               tmp_path):
    import keras

    run, _ = predict_run
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    other.save_weights(tmp_path / "other.weights.h5")
    for weights, needle in ((tmp_path / "other.weights.h5", "does not fit"),
                            (tmp_path / "missing.weights.h5", "weights file not found")):
        result = zoo_cli("predict", "--image", *photos(), "--model", run.path,
                         "--weights", weights)
        assert result.code == 2 and needle in result.err and result.err.count("\n") == 1


def test_a_card_that_does_not_fit_its_model_is_one_line(zoo_cli, predict_run, tmp_path):
    """labels.json of another model (ten classes) beside a three-class model.keras."""
    import shutil

    run, _ = predict_run
    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    card = json.loads((copy / "labels.json").read_text())
    (copy / "labels.json").write_text(json.dumps({**card, "labels": list("abcdefghij")}))
    result = zoo_cli("predict", "--image", photos()[0], "--model", copy)
    assert result.code == 2 and result.err.count("\n") == 1
    assert (f"{copy / 'model.keras'}: its labels.json describes a model taking 24x24x3 with "
            "10 classes, but the model takes 24x24x3 with 3 outputs") in result.err


# -- the table -----------------------------------------------------------------------------


def test_one_ordered_table_tells_the_kinds_apart(predict_run, tmp_path):
    run, _ = predict_run
    features = tmp_path / "features-run"
    features.mkdir()
    (features / "features.json").write_text("{}")
    saved = tmp_path / "m_savedmodel"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    cases = {tmp_path / "x.onnx": "exported", tmp_path / "x.TFLITE": "exported",
             saved: "exported", features: "features", run.path: "keras",
             run.epoch_model(1): "keras", tmp_path / "missing.keras": "keras",
             "mobilenetv2": "imagenet", "no-such-model": "imagenet"}
    for arg, kind in cases.items():
        assert kind_of(arg).name == kind, arg
    assert [k.name for k in KINDS] == ["exported", "features", "keras", "imagenet"]


def test_the_predictor_is_a_leaf():
    """predictor.py imports no loader and nothing of zoo.predict: the loaders import it."""
    import zoo.predict.predictor as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names}
    assert not [m for m in imported if m and m.startswith("zoo.predict")]


def test_load_predictor_gives_the_run_its_card(predict_run):
    run, _ = predict_run
    predictor = load_predictor(run.path, device="cpu")
    assert predictor.card == run.read_card() and predictor.name == "run"
    assert predictor.input_shape == (24, 24, 3) and list(predictor.labels) == NAMES
