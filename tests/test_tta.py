"""Test-time augmentation (`zoo.tta`) in `zoo evaluate --tta` (`predict_split`) and `zoo predict
--tta` (`predict_images`): the views, and the mean of the softmax over them."""

import json

import numpy as np
import pytest
import yaml

from zoo import tta
from zoo.card import ModelCard
from zoo.data.pipeline import Transform
from zoo.data.preprocessing import scale_pixels
from zoo.data.sources import ArraySource
from zoo.data.splits import Split
from zoo.evaluation import predict_split
from zoo.predict.loop import predict_images
from zoo.predict.predictor import Predictor


def _model(size, symmetric: bool, classes=4, seed=0):
    """A softmax classifier of `size` x 3 images: mirror-symmetric (global average pooling,
    whose sum is the same over a mirrored image), or not (a dense layer on every pixel)."""
    import keras

    inputs = keras.Input((*size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs) if symmetric else \
        keras.layers.Flatten()(inputs)
    init = keras.initializers.RandomNormal(stddev=3.0, seed=seed)
    outputs = keras.layers.Dense(classes, activation="softmax", kernel_initializer=init)(x)
    return keras.Model(inputs, outputs)


def _split(size, n=12, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, *size, 3), dtype=np.uint8)
    return Split(ArraySource(images, rng.integers(0, 4, n)), np.arange(n)), images


def _predict(model, images):
    return np.asarray(model.predict(images, verbose=0), dtype=np.float64)


def test_ten_crops_take_the_corners_the_centre_and_their_mirrors():
    rows, cols = np.mgrid[0:6, 0:7]
    image = (rows * 10 + cols).astype(np.int32)[None, ..., None]  # value = 10 * row + col
    views = tta.ten_crops(np.concatenate([image, image + 100]), (4, 4))
    assert views.shape == (20, 4, 4, 1)
    starts = [(1, 1), (0, 0), (0, 3), (2, 0), (2, 3)]  # centre, TL, TR, BL, BR
    for v, (top, left) in enumerate(starts):
        expected = image[0, top : top + 4, left : left + 4]
        np.testing.assert_array_equal(views[2 * v], expected)  # view-major: image 0 of view v
        np.testing.assert_array_equal(views[2 * v + 1], expected + 100)
        np.testing.assert_array_equal(views[2 * (v + 5)], expected[:, ::-1])
    assert views[0, 0, 0, 0] == 11 and views[2 * 4, 3, 3, 0] == 56  # bottom-right corner
    assert tta.load_size((224, 224), "crops") == (256, 256)
    assert tta.load_size((32, 32), "flip") == (32, 32)
    with pytest.raises(ValueError, match="do not fit"):
        tta.ten_crops(image, (7, 7))


def test_flip_on_a_mirror_symmetric_model_gives_the_same_probabilities():
    split, _ = _split((8, 8))
    model = _model((8, 8), symmetric=True)
    transform = Transform(size=(8, 8), channels=3)
    plain, labels, _ = predict_split(model, split, transform)
    flipped, labels2, _ = predict_split(model, split, transform, tta="flip")
    np.testing.assert_array_equal(labels, labels2)
    # the same pixels summed in another order: float32 rounding only
    np.testing.assert_allclose(flipped, plain, rtol=0, atol=1e-6)


def test_flip_and_crops_are_the_mean_over_the_views_computed_by_hand():
    model = _model((8, 8), symmetric=False)
    split, images = _split((8, 8))
    x = scale_pixels(images, "scale")
    plain, _, _ = predict_split(model, split, Transform(size=(8, 8), channels=3))
    flipped, _, _ = predict_split(model, split, Transform(size=(8, 8), channels=3), tta="flip",
                                  batch_size=5)  # 2 images a batch
    by_hand = (_predict(model, x) + _predict(model, x[:, :, ::-1])) / 2
    np.testing.assert_allclose(flipped, by_hand, rtol=1e-5, atol=1e-7)
    assert np.abs(flipped - plain).max() > 1e-3  # the model is not mirror-symmetric

    model = _model((14, 14), symmetric=False, seed=1)
    split, images = _split((16, 16), n=7)  # 16 = 14 / 0.875: the views are plain slices
    crops, _, _ = predict_split(model, split, Transform(size=(14, 14), channels=3),
                                tta="crops", batch_size=20)
    x = scale_pixels(images, "scale")
    views = [x[:, t : t + 14, s : s + 14] for t, s in ((1, 1), (0, 0), (0, 2), (2, 0), (2, 2))]
    views += [v[:, :, ::-1] for v in views]
    by_hand = np.mean([_predict(model, v) for v in views], axis=0)
    np.testing.assert_allclose(crops, by_hand, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(crops.sum(axis=1), 1.0, atol=1e-6)


def test_predict_images_averages_the_views_of_each_image(tmp_path):
    import cv2

    model = _model((14, 14), symmetric=False, seed=2)
    card = ModelCard(names=("a", "b", "c", "d"), input_shape=(14, 14, 3))
    predictor = Predictor(model, card, "toy")
    rng = np.random.default_rng(3)
    arrays = rng.integers(0, 256, (3, 14, 14, 3)).astype(np.float32)
    results = list(predict_images(predictor, [(f"x{i}", a) for i, a in enumerate(arrays)],
                                  batch_size=4, tta="flip"))
    x = arrays / 255.0
    by_hand = (_predict(model, x) + _predict(model, x[:, :, ::-1])) / 2
    np.testing.assert_allclose([r.probabilities for r in results], by_hand, rtol=1e-5,
                               atol=1e-7)
    assert results[0].to_json()["tta"] == "flip"

    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)  # decoded at 16 = 14 / 0.875
    cv2.imwrite(str(tmp_path / "photo.png"), image[..., ::-1])
    [result] = predict_images(predictor, [str(tmp_path / "photo.png")], tta="crops")
    x = image[None].astype(np.float32) / 255.0
    views = [x[:, t : t + 14, s : s + 14] for t, s in ((1, 1), (0, 0), (0, 2), (2, 0), (2, 2))]
    views += [v[:, :, ::-1] for v in views]
    by_hand = np.mean([_predict(model, v) for v in views], axis=0)[0]
    np.testing.assert_allclose(result.probabilities, by_hand, rtol=1e-5, atol=1e-7)


def test_evaluate_and_predict_take_tta_and_metrics_json_records_it(zoo_cli, trained_run_copy):
    assert json.loads((trained_run_copy / "metrics.json").read_text())["tta"] is None
    result = zoo_cli("evaluate", trained_run_copy, "--tta", "flip")
    assert result.code == 0, result.err
    metrics = json.loads((trained_run_copy / "metrics.json").read_text())
    assert metrics["tta"] == "flip" and metrics["images"] == 360
    assert (trained_run_copy / "report.html").is_file()
    result = zoo_cli("evaluate", trained_run_copy, "--tta", "mirror")
    assert result.code == 2 and "invalid choice" in result.err
    image = trained_run_copy / "digit.png"
    import cv2

    cv2.imwrite(str(image), np.full((8, 8), 200, np.uint8))
    result = zoo_cli("predict", "--image", image, "--model", trained_run_copy, "--tta",
                     "crops", "--json")
    assert result.code == 0, result.err
    row = json.loads(result.out)
    assert row["tta"] == "crops" and len(row["predictions"]) == 5


def test_train_tta_evaluates_the_best_model_over_the_mirrors_and_flip_trains_on_them(
        zoo_cli, tmp_path):
    from zoo.evaluation import evaluate_run

    result = zoo_cli("train", "--model", "shallownet", "--dataset", "digits", "--epochs", "1",
                     "--limit", "200", "--flip", "--tta", "flip", "--no-report", "--output",
                     tmp_path, "--name", "run")
    assert result.code == 0, result.err
    run = tmp_path / "run"
    assert "test: 200 images, flip TTA" in result.out
    trained = json.loads((run / "metrics.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert trained["tta"] == "flip" and config["tta"] == "flip" and config["flip"] is True
    again = evaluate_run(run, tta="flip", page=False)
    assert again["loss"] == pytest.approx(trained["loss"], rel=1e-5)
    plain = evaluate_run(run, page=False)  # without the mirrors: other figures
    assert plain["tta"] is None and plain["loss"] != pytest.approx(trained["loss"], rel=1e-5)
    # flips move pixels only: a box run takes --flip but evaluates without --tta
    result = zoo_cli("train", "--task", "boxes", "--model", "lenet5", "--dataset",
                     "boxes:x.csv", "--tta", "crops")
    assert result.code == 2 and "--tta does not work with --task boxes" in result.err
