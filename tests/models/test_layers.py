"""zoo's BatchNormalization: TensorFlow's fused kernel in training, Keras' arithmetic.

Each case runs one training-mode call of Keras' own layer and of zoo's, from the same
weights on the same inputs, and compares outputs, gradients and moving statistics. The two
compute the same function in a different order (one fused kernel against moments, rsqrt,
multiply and add), so they agree to float32 rounding of sums over the batch: every bound is
relative to the largest value compared, 1e-5 for the forward quantities (a few units of
2^-24 times the ~n terms of a mean or variance) and 1e-4 for gradients (sums of products
over the batch, where the reassociated reductions each add a few units of rounding).
"""

import keras
import numpy as np
import pytest

from zoo.models.layers import BatchNormalization

tf = pytest.importorskip("tensorflow")


def _pair(shape, **kwargs):
    ours, theirs = BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    ours.build(shape), theirs.build(shape)
    rng = np.random.default_rng(1)
    for mine, keras_weight in zip(ours.weights, theirs.weights, strict=True):
        value = keras_weight.numpy() + rng.normal(0, 0.1, keras_weight.shape).astype("float32")
        mine.assign(np.abs(value)), keras_weight.assign(np.abs(value))  # variance > 0
    return ours, theirs


def _close(a, b, rtol):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(float(np.abs(b).max()), 1e-30)
    assert float(np.abs(a - b).max()) <= rtol * scale, (np.abs(a - b).max(), scale)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fused path is TF's")
@pytest.mark.parametrize("shape", [(8, 5, 6, 7), (16, 9), (2, 3)])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.9, "center": False},
                                    {"scale": False, "epsilon": 1e-2}])
def test_training_step_matches_keras_layer(shape, kwargs):
    ours, theirs = _pair(shape, **kwargs)
    x = tf.constant(np.random.default_rng(0).normal(2, 3, shape).astype("float32"))
    assert ours._fusable(x)
    before = [w.numpy() for w in ours.non_trainable_weights]
    results = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * y * x)  # gradients that depend on every output
        results.append((y, tape.gradient(loss, [x, *layer.trainable_weights]),
                        [w.numpy() for w in layer.non_trainable_weights]))
    (y, grads, moving), (y_k, grads_k, moving_k) = results
    _close(y, y_k, 1e-5)
    for g, g_k in zip(grads, grads_k, strict=True):
        _close(g, g_k, 1e-4)
    for m, m_k in zip(moving, moving_k, strict=True):
        _close(m, m_k, 1e-5)
    # the moving statistics moved (with the biased variance, or the 1e-5 above fails: TF's
    # kernel returns n/(n-1) times it)
    assert all(np.abs(m - b).min() > 0 for m, b in zip(moving, before, strict=True))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fused path is TF's")
def test_unfusable_calls_are_keras_own():
    """Inference, float16 inputs, another axis and a tiny epsilon go to Keras' layer."""
    layer = BatchNormalization(axis=1)
    assert not layer._fusable(tf.zeros((2, 3, 4, 5)))
    assert not BatchNormalization(epsilon=1e-6)._fusable(tf.zeros((2, 3)))
    assert not BatchNormalization()._fusable(tf.zeros((2, 3, 4)))
    assert not BatchNormalization(dtype="mixed_float16")._fusable(tf.zeros((2, 3), "float16"))
    ours, theirs = _pair((4, 3))
    x = tf.constant(np.arange(12, dtype="float32").reshape(4, 3))
    np.testing.assert_array_equal(ours(x, training=False), theirs(x, training=False))


def test_saved_and_loaded_as_zoo_layer(tmp_path):
    from zoo.run import load_model

    inputs = keras.Input((4,))
    model = keras.Model(inputs, BatchNormalization(name="bn")(inputs))
    model.layers[1].moving_mean.assign(np.arange(4, dtype="float32"))
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", compile=False)
    assert type(loaded.get_layer("bn")) is BatchNormalization
    np.testing.assert_array_equal(loaded.get_layer("bn").moving_mean.numpy(), np.arange(4))
