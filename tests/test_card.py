"""The model card: one JSON form for labels.json and exported metadata, older files read, and
the one pixel path (`scale_pixels`) equal to Keras' `preprocess_input`."""

import json

import numpy as np
import pytest

from zoo.card import ModelCard, imagenet_classes
from zoo.data.preprocessing import scale_pixels
from zoo.errors import ZooError
from zoo.run import RunDir

CARD = ModelCard(["cat", "dog"], (32, 32, 3), preprocessing="raw", mean=(1.0, 2.0, 3.0),
                 dataset="folder", name="run")


def test_json_round_trip_and_types():
    data = CARD.to_json()
    assert data == {"format_version": 1, "task": "classification", "name": "run",
                    "labels": ["cat", "dog"], "wnids": None, "input_shape": [32, 32, 3],
                    "preprocessing": "raw", "mean": [1.0, 2.0, 3.0], "dataset": "folder"}
    assert json.loads(json.dumps(data)) == data
    assert ModelCard.from_json(data) == CARD
    assert CARD.names == ("cat", "dog") and CARD.input_shape == (32, 32, 3)
    exported = CARD.replace(source="run", precision="float32", exported_by="zoo")
    assert ModelCard.from_json(exported.to_json()) == exported
    assert exported.to_json()["precision"] == "float32"
    assert hash(CARD) == hash(ModelCard.from_json(data))  # frozen, comparable by value


def test_todays_labels_json_still_reads(tmp_path):
    """labels.json as zoo wrote it before the card (no version, task or name)."""
    run = RunDir(tmp_path)
    run.labels_file.write_text('{"labels": ["0", "1", "2"], "input_shape": [8, 8, 1], '
                               '"preprocessing": "scale", "mean": null, "dataset": "digits"}')
    card = run.read_card()
    assert card == ModelCard(["0", "1", "2"], (8, 8, 1), "scale", dataset="digits")
    assert card.task == "classification" and card.wnids is None and card.name is None


def test_the_oldest_labels_json_still_reads(tmp_path):
    """The fields older code read with defaults: preprocessing (scale), mean, dataset."""
    run = RunDir(tmp_path)
    run.labels_file.write_text('{"labels": ["a", "b"], "input_shape": [24, 24, 3], '
                               '"mean": [120.5, 110.0, 100.25]}')
    card = run.read_card()
    assert card.preprocessing == "scale" and card.mean == (120.5, 110.0, 100.25)
    assert card.dataset is None and card.names == ("a", "b")


def test_exported_metadata_of_format_version_1_still_reads():
    text = json.dumps({"format_version": 1, "name": "run", "labels": ["ant", "bee"],
                       "wnids": None, "input_shape": [24, 24, 3], "preprocessing": "raw",
                       "mean": [100.0, 110.0, 120.0], "source": "/runs/run",
                       "precision": "float32",
                       "exported_by": "zoo 0.1.0, keras 3.12.0 (tensorflow backend)"})
    card = ModelCard.loads(text, "x.onnx: its zoo metadata")
    assert card.name == "run" and card.source == "/runs/run" and card.mean == (100, 110, 120)
    assert card.to_json()["exported_by"].startswith("zoo 0.1.0")


def test_written_labels_json_is_the_card(tmp_path):
    run = RunDir(tmp_path)
    run.write_card(CARD)
    assert json.loads(run.labels_file.read_text()) == CARD.to_json()
    assert run.read_card() == CARD


@pytest.mark.parametrize("data, message", [
    ({"input_shape": [8, 8, 1]}, "lacks labels"),
    ({"labels": ["a"]}, "lacks input_shape"),
    ({"labels": ["a"], "input_shape": [8, 8, 1], "task": "poems"}, "unknown task 'poems'"),
    ({"labels": ["a"], "input_shape": [8, 8, 1], "format_version": 9}, "upgrade zoo"),
    ({"labels": ["a"], "input_shape": ["eight"]}, "does not read as a model card"),
    (["a", "b"], "is not a JSON object"),
])
def test_bad_cards_are_one_line(data, message):
    with pytest.raises(ZooError, match=message) as caught:
        ModelCard.from_json(data, "RUN/labels.json")
    assert str(caught.value).startswith("RUN/labels.json")
    assert "\n" not in str(caught.value)


def test_bad_json_and_required_keys(tmp_path):
    run = RunDir(tmp_path)
    run.labels_file.write_text("{not json")
    with pytest.raises(ZooError, match="labels.json is not valid JSON"):
        run.read_card()
    with pytest.raises(ZooError, match="its zoo metadata lacks preprocessing"):
        ModelCard.loads('{"labels": ["a"], "input_shape": [1, 1, 1]}', "x.onnx: its zoo metadata",
                        ("labels", "input_shape", "preprocessing"))


def test_check_against_names_the_path():
    assert CARD.check_against(2, (32, 32, 3), "m.onnx") is CARD
    assert CARD.check_against(2, (None, None, 3), "m.onnx") is CARD  # open dimensions fit
    with pytest.raises(ZooError) as caught:
        CARD.check_against(10, (32, 32, 3), "m.onnx")
    assert str(caught.value) == (
        "m.onnx: its metadata describes a model taking 32x32x3 with 2 classes, but the model "
        "takes 32x32x3 with 10 outputs (a file edited, or another model's metadata)")
    with pytest.raises(ZooError, match="its labels.json describes .* takes 28x28x1"):
        CARD.check_against(2, (28, 28, 1), "RUN/model.keras", "labels.json")


def test_numbered_and_imagenet_cards():
    card = ModelCard.numbered(3, (8, 8, 1))
    assert card.names == ("0", "1", "2") and card.preprocessing == "scale"
    card = ModelCard.imagenet("mobilenetv2", (224, 224, 3), "tf")
    assert len(card.names) == len(card.wnids) == 1000
    assert (card.wnids[281], card.names[281]) == imagenet_classes()[281] == ("n02123045",
                                                                             "tabby")


def test_bundled_class_index():
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert classes[0] == ("n01440764", "tench") and classes[281] == ("n02123045", "tabby")


def test_prepare_is_scale_pixels():
    pixels = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    np.testing.assert_array_equal(CARD.prepare(pixels), scale_pixels(pixels, "raw",
                                                                      [1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(ModelCard.numbered(2, (4, 4, 3)).prepare(pixels),
                                  pixels.astype(np.float32) / 255)


def test_numpy_preprocessing_equals_keras_to_the_bit():
    from keras.applications import imagenet_utils

    pixels = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3)).astype(np.uint8)
    for mode in ("tf", "torch", "caffe"):
        for mean in (None, [10.0, 20.0, 30.0]):
            x = pixels.astype(np.float32) - (np.float32(mean) if mean else 0)
            expected = imagenet_utils.preprocess_input(x, mode=mode,
                                                       data_format="channels_last")
            np.testing.assert_array_equal(scale_pixels(pixels, mode, mean), expected)


def test_every_imagenet_models_card_prepares_as_its_preprocess_input():
    """The registry's mode of each ImageNet model is what its keras.applications module's
    `preprocess_input` does (the `raw` ones pass pixels through)."""
    import importlib

    from zoo.models.applications import APPLICATIONS
    from zoo.models.registry import get_spec

    pixels = np.random.default_rng(1).integers(0, 256, (2, 5, 7, 3)).astype(np.uint8)
    for name, (_, module, *_rest) in APPLICATIONS.items():
        spec = get_spec(name)
        keras_module = importlib.import_module(f"keras.applications.{module}")
        expected = keras_module.preprocess_input(pixels.astype(np.float32))
        card = ModelCard.imagenet(name, spec.input_shape, spec.preprocessing)
        np.testing.assert_array_equal(card.prepare(pixels), expected, err_msg=name)


def test_a_model_zoo_trained_crops_photos_to_its_shape_others_resize_them():
    run_card = ModelCard(("cat", "dog"), (64, 64, 3), dataset="folder:photos")
    assert run_card.crops and ModelCard(("0",), (8, 8, 1), dataset="digits").crops
    assert not ModelCard.imagenet("vgg16", (224, 224, 3), "caffe").crops
    assert not ModelCard.numbered(3, (32, 32, 3)).crops  # a bare .keras file: Keras' resize
