"""Every registered model, tested the day it is registered (parametrised over the registry)."""

import numpy as np
import pytest

from zoo.models import build_model, get_spec, list_models

SCRATCH = [n for n in list_models() if get_spec(n).family != "imagenet"]
IMAGENET = list_models(pretrained=True)
# Models whose classifier sits on a Flatten: their parameter count depends on the input size.
FLATTEN_HEADS = {"vgg16", "vgg19"}


def small_shape(spec):
    size = max(spec.min_size, 32) if spec.family == "imagenet" else max(spec.min_size, 16)
    size = min(size, spec.input_shape[0])
    return (size, size, spec.input_shape[-1])


@pytest.mark.parametrize("name", SCRATCH)
def test_scratch_model_declares_its_true_parameter_count(name):
    spec = get_spec(name)
    assert build_model(name).count_params() == spec.params


@pytest.mark.parametrize("name", SCRATCH)
def test_scratch_model_forward_and_keras_round_trip(name, tmp_path):
    import keras

    spec = get_spec(name)
    shape = small_shape(spec)
    model = build_model(name, input_shape=shape, num_classes=7)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (2, 7)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x, training=False)), y)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


@pytest.mark.parametrize("name", [n for n in SCRATCH if get_spec(n).min_size > 1])
def test_declared_min_size_is_the_true_minimum(name):
    spec = get_spec(name)
    channels = spec.input_shape[-1]
    spec.builder(input_shape=(spec.min_size, spec.min_size, channels), num_classes=3)
    too_small = spec.min_size - 1
    with pytest.raises(Exception):  # noqa: B017 - Keras' own shape error, whatever its type
        spec.builder(input_shape=(too_small, too_small, channels), num_classes=3)


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
    model = build_model(name, input_shape=shape, num_classes=7)
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
    assert y.shape == (2, 7) and np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
