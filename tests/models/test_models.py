"""Every registered model, tested the day it is registered (parametrised over the registry)."""

import numpy as np
import pytest

from zoo.models import build_model, get_spec, list_models

SCRATCH = [n for n in list_models() if get_spec(n).family != "imagenet"]
IMAGENET = list_models(pretrained=True)
# Models whose classifier sits on a Flatten: their parameter count depends on the input size.
FLATTEN_HEADS = {"vgg16", "vgg19", "alexnet", "lenet", "minivggnet", "shallownet"}
CLASSES = 7  # not a model's default, so that a builder that ignored num_classes would show


def small_shape(spec):
    """The smallest input a model takes (32 for the ImageNet ones, as Keras requires)."""
    size = max(spec.min_size, 32) if spec.family == "imagenet" else spec.min_size
    return (size, size, spec.input_shape[-1])


@pytest.fixture(scope="module")
def scratch():
    """`scratch(name) -> (spec, shape, model)`: the scratch model `name` built once, at its
    smallest input and for CLASSES classes, and shared by every check of that model in this
    module (all of them together hold about 40M parameters)."""
    built = {}

    def get(name):
        if name not in built:
            spec = get_spec(name)
            shape = small_shape(spec)
            built[name] = spec, shape, build_model(name, input_shape=shape,
                                                   num_classes=CLASSES)
        return built[name]

    yield get
    built.clear()


def declared_classes_params(spec, model) -> int:
    """The parameter count of `model` (built for CLASSES classes) had it been built for the
    model's declared number of classes: its `predictions` layer has one column of
    `inputs` weights and a bias per class."""
    inputs = model.get_layer("predictions").kernel.shape[0]
    return model.count_params() + (spec.num_classes - CLASSES) * (inputs + 1)


@pytest.mark.parametrize("name", SCRATCH)
def test_scratch_model_declares_its_true_parameter_count(scratch, name):
    spec, _, model = scratch(name)
    if spec.name in FLATTEN_HEADS:  # counted at the declared input size
        assert build_model(spec.name).count_params() == spec.params
    else:  # a global-pooling head: the same count at the smallest input
        assert declared_classes_params(spec, model) == spec.params


@pytest.mark.parametrize("name", SCRATCH)
def test_scratch_model_forward_and_keras_round_trip(scratch, name, tmp_path):
    import keras

    spec, shape, model = scratch(name)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (2, CLASSES)
    assert np.isfinite(y).all()
    # a float32 softmax of 7 values sums to 1 within 7 roundings (7 * 6e-8 < 1e-6)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)

    path = tmp_path / f"{spec.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    # the same weights, the same graph, the same process: the same bits
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x, training=False)), y)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


@pytest.mark.parametrize("name", [n for n in SCRATCH if get_spec(n).min_size > 1])
def test_declared_min_size_is_the_true_minimum(scratch, name):
    spec, shape, model = scratch(name)  # built at the declared minimum
    assert model.input_shape[1:3] == (spec.min_size, spec.min_size)
    too_small = spec.min_size - 1
    with pytest.raises(Exception):  # noqa: B017 - Keras' own shape error, whatever its type
        spec.builder(input_shape=(too_small, too_small, shape[-1]), num_classes=3)


@pytest.mark.parametrize(
    "name, depth, paper_millions",
    [
        ("resnet20", 20, 0.27),
        ("resnet32", 32, 0.46),
        ("resnet44", 44, 0.66),
        ("resnet56", 56, 0.85),
        ("resnet110", 110, 1.7),
    ],
)
def test_cifar_resnets_match_table_6_of_the_paper(scratch, name, depth, paper_millions):
    spec, _, model = scratch(name)
    params = declared_classes_params(spec, model)
    assert abs(params / 1e6 - paper_millions) / paper_millions < 0.03, params
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert len(convs) + len(dense) == depth  # 6n+2 weighted layers, option A adds none


def test_resnet164_matches_identity_mappings_paper(scratch):
    spec, _, model = scratch("resnet164")
    assert abs(declared_classes_params(spec, model) / 1.7e6 - 1) < 0.03


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_model_builds_without_weights(name):
    import keras

    spec = get_spec(name)
    assert spec.pretrained and spec.preprocessing in ("caffe", "tf", "torch", "raw")
    shape = spec.input_shape if name in FLATTEN_HEADS else small_shape(spec)
    model = build_model(name, input_shape=shape)
    # Global pooling heads have the same parameter count at any input size.
    assert model.count_params() == spec.params
    x = np.random.default_rng(0).uniform(0, 255, (1, *shape)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (1, 1000) and np.isfinite(y).all()


@pytest.fixture
def mixed_float16():
    import keras

    keras.config.set_dtype_policy("mixed_float16")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("name", [*SCRATCH, "mobilenetv2"])
def test_mixed_precision_computes_in_half_and_outputs_float32(name, mixed_float16):
    import keras

    spec = get_spec(name)
    shape = small_shape(spec)
    model = build_model(name, input_shape=shape, num_classes=CLASSES)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "float16" for layer in convs)
    assert all(w.dtype == "float32" for w in model.trainable_weights)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    # training=True: the batch statistics of an untrained BN keep float16 in range (with the
    # initial moving statistics, resnet110's 54 residual sums overflow it, as they would not
    # once trained).
    y = model(x, training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"  # softmax in float32
    y = keras.ops.convert_to_numpy(y)
    assert y.shape == (2, CLASSES) and np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
