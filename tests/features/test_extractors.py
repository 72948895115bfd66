"""The extractors: the classic descriptors' documented lengths, and CNN layers of a zoo run
and of an ImageNet model (random weights: nothing is downloaded)."""

import h5py
import numpy as np
import pytest

from tests.features.helpers import make_source_run
from zoo.features import extractors
from zoo.features.extractors import CLASSIC, get_extractor

LENGTHS = {"pixels": 3072, "colorhist": 512, "hog": 1764, "lbp": 26, "hu": 7}


@pytest.mark.parametrize("name", sorted(LENGTHS))
def test_descriptors_have_their_documented_lengths(name):
    extractor = CLASSIC[name]
    assert extractor.dim == LENGTHS[name]
    assert f" {LENGTHS[name]}\n" in extractors.__doc__  # the table in the module docstring
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (4, *extractor.input_shape)).astype(np.float32)
    features = extractor(images)
    assert features.shape == (4, LENGTHS[name]) and features.dtype == np.float32
    assert np.isfinite(features).all()
    np.testing.assert_array_equal(features, extractor(images.copy()))  # deterministic
    assert not np.allclose(features[0], features[1])  # different images, different features


def test_histograms_sum_to_one():
    images = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    for name in ("colorhist", "lbp"):
        np.testing.assert_allclose(CLASSIC[name](images).sum(axis=1), 1.0, rtol=1e-5)


def test_a_run_is_cut_before_its_classifier(tmp_path):
    import keras

    run, model = make_source_run(tmp_path)
    extractor = get_extractor(str(run.path))
    assert extractor.describe()["layer"] == "flatten" and extractor.dim == 8 * 8 * 32
    images = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    expected = keras.Model(model.input, model.get_layer("flatten").output)(images / 255.0)
    # one forward pass of one 3x3 convolution, run as a graph (the extractor) and eagerly
    # here, whose kernels may sum the 9 products in another order: float32 rounding of a sum
    # of 9 terms is within 9 * 6e-8 relative, 1e-6 of the values (below 5); rtol 1e-5 and
    # atol 1e-6 bound that
    np.testing.assert_allclose(extractor(images), keras.ops.convert_to_numpy(expected),
                               rtol=1e-5, atol=1e-6)
    pooled = get_extractor(str(run.path), layer="conv1_relu", pooling="max")
    assert pooled.dim == 32 and pooled.describe()["pooling"] == "max"


def test_cnn_extraction_from_a_zoo_run(zoo_cli, tmp_path):
    run, _ = make_source_run(tmp_path)
    out = tmp_path / "f.h5"
    result = zoo_cli("extract", "--model", run.path, "--dataset", "digits", "--limit", "20",
                     "--layer", "conv1_relu", "--pooling", "avg", "--output", out)
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == str(out)
    with h5py.File(out, "r") as f:
        assert f["features"].shape == (60, 32)
        assert f.attrs["model"] == "src" and f.attrs["layer"] == "conv1_relu"
        assert f.attrs["pooling"] == "avg" and f.attrs["preprocessing"] == "scale"
        assert list(f.attrs["input_shape"]) == [8, 8, 1]


def test_an_imagenet_model_with_local_random_weights(zoo_cli, tmp_path):
    import keras

    from zoo.models import build_model

    keras.utils.set_random_seed(0)
    weights = tmp_path / "mobilenetv2.weights.h5"
    build_model("mobilenetv2").save_weights(weights)
    out = tmp_path / "f.h5"
    result = zoo_cli("extract", "--model", "mobilenetv2", "--weights", weights, "--dataset",
                     "digits", "--limit", "10", "--batch-size", "16", "--output", out)
    assert result.code == 0, result.err
    with h5py.File(out, "r") as f:
        assert f["features"].shape == (30, 1280)
        assert f.attrs["model"] == "mobilenetv2" and f.attrs["preprocessing"] == "tf"
        assert list(f.attrs["input_shape"]) == [224, 224, 3]
    # fitted, the run keeps the cut model and predicts with the model's own preprocessing
    result = zoo_cli("fit-features", out, "--classifier", "logreg", "--output", tmp_path,
                     "--name", "run")
    assert result.code == 0, result.err
    from tests.fixtures import write_images
    from zoo.features.extractors import get_extractor
    from zoo.predict.loaders import load_features_predictor
    from zoo.predict.loop import load_image

    images = write_images(tmp_path / "new", ["a.png"], size=(30, 40))
    predictor = load_features_predictor(tmp_path / "run")
    assert predictor.input_shape == (224, 224, 3)
    x = np.stack([load_image(str(images[0]), predictor.input_shape)])
    direct = get_extractor("mobilenetv2", weights=str(weights))(x)
    # one forward pass of the same weights on the same image, by the saved cut model and by a
    # newly built one: the same kernels here, but a reloaded graph may fuse (and so round)
    # differently; float32 rounding through mobilenetv2's ~50 weighted layers stays within
    # 50 * 6e-8 * the layers' gain, well inside rtol 1e-4 (atol 1e-5 for values near 0)
    np.testing.assert_allclose(predictor.model.extractor(x), direct, rtol=1e-4, atol=1e-5)
    probs = predictor.predict(x, 8)
    assert probs.shape == (1, 10) and abs(probs.sum() - 1) < 1e-6


def test_a_layer_that_does_not_exist_is_one_line(zoo_cli, tmp_path):
    run, _ = make_source_run(tmp_path)
    result = zoo_cli("extract", "--model", run.path, "--dataset", "digits", "--layer",
                     "conv_1", "--output", tmp_path / "f.h5")
    assert result.code == 2
    assert result.err.startswith("zoo: error: shallownet has no layer 'conv_1'; did you mean "
                                 "conv1")
    assert len(result.err.splitlines()) == 1
    assert not (tmp_path / "f.h5").exists()
