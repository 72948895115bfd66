"""Custom layers the builders need, written with `keras.ops` so they run on every backend.

They are registered as serializable, so a `.keras` file that uses them loads back without
`safe_mode=False` (a Lambda layer would need it).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class ShortcutPad(keras.layers.Layer):
    """The parameter-free 'option A' shortcut of He et al. 2016 (Sec. 4.2, CIFAR-10).

    Subsamples the input by `stride` and pads the new channels with zeros, so the identity
    shortcut matches a residual branch with more filters and a smaller map.

    Args:
        filters: the channel count of the output.
        stride: the spatial subsampling factor. Defaults to `2`.
    """

    def __init__(self, filters: int, stride: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.stride = int(stride)

    def call(self, inputs):
        x = inputs[:, :: self.stride, :: self.stride, :]
        extra = self.filters - x.shape[-1]
        before = extra // 2
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, extra - before]])

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape

        def sub(size):
            return None if size is None else -(-size // self.stride)

        return (batch, sub(height), sub(width), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}


@keras.saving.register_keras_serializable(package="zoo")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalisation across channels (Krizhevsky et al. 2012, Sec. 3.3).

    `b_c = a_c / (k + alpha / n * sum_{c' in window(c, n)} a_c'^2) ** beta`, the form Caffe
    uses for GoogLeNet. Defaults are AlexNet's: `n=5`, `k=2`, `alpha=1e-4`, `beta=0.75`.
    """

    def __init__(
        self, depth: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, **kwargs
    ):
        super().__init__(**kwargs)
        self.depth, self.k, self.alpha, self.beta = int(depth), float(k), float(alpha), float(beta)

    def call(self, inputs):
        channels = inputs.shape[-1]
        half = self.depth // 2
        squared = ops.pad(ops.square(inputs), [[0, 0], [0, 0], [0, 0], [half, half]])
        window = sum(squared[..., i : i + channels] for i in range(self.depth))
        return inputs / ops.power(self.k + self.alpha / self.depth * window, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth": self.depth,
            "k": self.k,
            "alpha": self.alpha,
            "beta": self.beta,
        }


@keras.saving.register_keras_serializable(package="zoo")
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras' `BatchNormalization`, whose training step runs TensorFlow's fused kernel on the
    TensorFlow backend; everything else is Keras' own layer, unchanged.

    Keras 3 normalises in training with `ops.moments` and `ops.batch_normalization`: seven
    or so element-wise passes forward and as many backward, memory-bound work that TensorFlow
    runs one op at a time. `tf.compat.v1.nn.fused_batch_norm` does the same arithmetic in one
    kernel each way (oneDNN's on x86), as Keras 2 did by default and as PyTorch's
    `BatchNorm2d` does. On MiniVGGNet's training step that is 1.12x (AVX2) to 1.3x (AVX-512)
    the images per CPU-second (BENCHMARKS.md, "Issue 18", the step per CPU-second).

    The fused path is taken only where it computes what Keras does: the TensorFlow backend, a
    trainable layer called with `training=True`, float32 inputs of rank 2 or 4 normalised over
    the last axis, no mask, no renorm, no synchronisation, and an epsilon TensorFlow does not
    raise (>= 1.001e-5). The moving statistics are updated with the biased batch variance, as
    Keras does (TensorFlow's kernel returns the unbiased one). Inference, every other backend
    and every other case call Keras' layer, so a model saved with this layer predicts, exports
    and converts exactly as one with Keras' own.
    """

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable and mask is None and self._fusable(inputs):
            return _fused_training_call(self, inputs)
        return super().call(inputs, training=training, mask=mask)

    def _fusable(self, inputs) -> bool:
        rank = len(inputs.shape)
        return (keras.backend.backend() == "tensorflow"
                and rank in (2, 4)
                and self.axis in (-1, rank - 1)
                and keras.backend.standardize_dtype(inputs.dtype) == "float32"
                and self.compute_dtype == "float32"
                and not self.renorm
                and not self.synchronized
                and self.epsilon >= 1.001e-5
                and inputs.shape[-1] is not None)


def _fused_training_call(layer: BatchNormalization, inputs):
    """A training-mode batch normalisation through TensorFlow's fused kernel, with Keras'
    moving-average update (momentum, biased variance)."""
    import tensorflow as tf

    channels = inputs.shape[-1]
    x = inputs if len(inputs.shape) == 4 else tf.reshape(inputs, [-1, 1, 1, channels])
    gamma = layer.gamma if layer.scale else tf.ones([channels], inputs.dtype)
    beta = layer.beta if layer.center else tf.zeros([channels], inputs.dtype)
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
        x, tf.convert_to_tensor(gamma), tf.convert_to_tensor(beta), epsilon=layer.epsilon,
        data_format="NHWC", is_training=True)[:3]
    # the kernel returns the Bessel-corrected variance (n / (n - 1) times the one it
    # normalised with; unchanged for n = 1); Keras averages the biased one
    count = tf.cast(tf.size(x) // channels, variance.dtype)
    variance = variance * tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0)
    momentum = layer.momentum
    layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
    layer.moving_variance.assign(layer.moving_variance * momentum
                                 + variance * (1.0 - momentum))
    return y if len(inputs.shape) == 4 else tf.reshape(y, tf.shape(inputs))


def classifier(num_classes: int, name: str = "predictions", **kwargs) -> keras.layers.Dense:
    """The softmax classifier every zoo model ends with, computed in float32 whatever the
    dtype policy. Under `mixed_float16`/`mixed_bfloat16` a half-precision softmax loses small
    probabilities, and Keras' top-k metric rejects half-precision outputs; the Keras
    mixed-precision guide keeps model outputs in float32 for both reasons. Under the default
    float32 policy this is an ordinary `Dense(num_classes, activation="softmax")`.
    """
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name=name,
                              **kwargs)
