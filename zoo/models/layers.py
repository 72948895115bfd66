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


def classifier(num_classes: int, name: str = "predictions", **kwargs) -> keras.layers.Dense:
    """The softmax classifier every zoo model ends with, computed in float32 whatever the
    dtype policy. Under `mixed_float16`/`mixed_bfloat16` a half-precision softmax loses small
    probabilities, and Keras' top-k metric rejects half-precision outputs; the Keras
    mixed-precision guide keeps model outputs in float32 for both reasons. Under the default
    float32 policy this is an ordinary `Dense(num_classes, activation="softmax")`.
    """
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name=name,
                              **kwargs)
