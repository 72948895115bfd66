"""What the predict and export tests share: the photos, ImageNet models with informative
random weights (made once per session), and a small run made directly."""

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tests.fixtures import ODD_IMAGES
from zoo.models import build_model, get_spec
from zoo.models.applications import APPLICATIONS

NAMES = ["cats", "dogs", "pandas"]
MEAN = (100.0, 110.0, 120.0)
ODD = ODD_IMAGES


def preprocess_module(name: str):
    """The `keras.applications` module whose `preprocess_input` fits model `name`: Keras' own
    preprocessing, the reference zoo's `scale_pixels` is held to."""
    import importlib

    return importlib.import_module(f"keras.applications.{APPLICATIONS[name][1]}")


def photos() -> list[str]:
    import sklearn

    folder = Path(sklearn.__file__).parent / "datasets" / "images"
    return [str(folder / "china.jpg"), str(folder / "flower.jpg")]


def reference_probs(model, name, paths):
    """The reference pipeline: keras' load_img, img_to_array, the model's own
    `preprocess_input` (Keras', not zoo's), then the model."""
    import keras

    size = get_spec(name).input_shape[:2]
    batch = np.stack([keras.utils.img_to_array(keras.utils.load_img(p, target_size=size))
                      for p in paths])
    # called directly: model.predict would first trace a function, seconds for these models
    x = preprocess_module(name).preprocess_input(batch)
    return keras.ops.convert_to_numpy(model(x, training=False))


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


_CALIBRATED: dict[str, tuple[Path, np.ndarray]] = {}


def calibrated(name) -> tuple[Path, np.ndarray]:
    """`calibrated_weights` of `name` and the reference probabilities of `photos()` under
    them, made once per session (the files in a folder removed at exit): the tests only
    read them."""
    if name not in _CALIBRATED:
        folder = Path(tempfile.mkdtemp(prefix=f"zoo-test-{name}-"))
        atexit.register(shutil.rmtree, folder, True)
        weights, model = calibrated_weights(name, folder)
        _CALIBRATED[name] = weights, reference_probs(model, name, photos())
    return _CALIBRATED[name]


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


# -- a run to export ------------------------------------------------------------------------

EXPORT_NAMES = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "owl", "yak"]
EXPORT_SHAPE = (24, 24, 3)


def make_export_run(root: Path, policy: str = "float32", name: str = "run"):
    """A run directory as `zoo train` leaves it (labels.json: ten named classes, raw pixels
    minus a mean), whose classifier is scaled so that its logits spread over real photos."""
    import keras

    from zoo.card import ModelCard
    from zoo.data.preprocessing import scale_pixels
    from zoo.export import verification_images
    from zoo.run import RunDir

    keras.utils.set_random_seed(3)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = build_model("shallownet", input_shape=EXPORT_SHAPE,
                            num_classes=len(EXPORT_NAMES))
    finally:
        keras.config.set_dtype_policy(previous)
    head = model.layers[-1]
    x = scale_pixels(np.stack([image for _, image in verification_images(EXPORT_SHAPE)]), "raw",
                     MEAN)
    features = keras.ops.convert_to_numpy(keras.Model(model.input, head.input)(x))
    kernel = keras.ops.convert_to_numpy(head.kernel).astype("float32")
    head.kernel.assign(kernel * (3.0 / max(float((features @ kernel).std()), 1e-6)))
    run = RunDir.create(root, name)
    run.config_file.write_text(f"model: shallownet\ndataset: folder:animals\nprecision: {policy}\n")
    run.write_card(ModelCard(EXPORT_NAMES, EXPORT_SHAPE, preprocessing="raw", mean=MEAN,
                             dataset="folder"))
    model.save(run.best_model)
    return run, model


def keras_probs(model, batch):
    from zoo.data.preprocessing import scale_pixels

    return np.asarray(model.predict(scale_pixels(batch, "raw", MEAN), verbose=0))


def installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


NEEDS = {"onnx": ("onnx", "tf2onnx", "onnxruntime"), "tflite": ("ai_edge_litert",),
         "savedmodel": ()}


def fmt_param(fmt):
    import pytest

    missing = [m for m in NEEDS[fmt] if not installed(m)]
    return pytest.param(fmt, marks=pytest.mark.skipif(
        bool(missing), reason=f"{', '.join(missing)} not installed (pip install -e '.[export]')"))


def needs(*formats):
    """Skip a test unless the packages of every format in `formats` are installed."""
    import pytest

    missing = [m for fmt in formats for m in NEEDS[fmt] if not installed(m)]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed")


def assert_same_ranking(expected: np.ndarray, ranked, tolerance: float) -> None:
    """`ranked` (class indices, best first) is `expected`'s ranking, but for classes whose
    probabilities lie within 2 x `tolerance` of each other: two runtimes that each stay within
    `tolerance` of Keras may order such a near-tie either way (another CPU's kernels too), so
    only a swap of classes further apart than that is a wrong ranking."""
    reference = np.argsort(-expected)[: len(ranked)]
    for rank, (want, got) in enumerate(zip(reference, ranked, strict=True)):
        assert want == got or abs(expected[want] - expected[got]) <= 2 * tolerance, (
            rank, int(want), int(got), float(expected[want]), float(expected[got]))
