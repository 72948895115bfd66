"""FastNet: a small ResNet-9-style network for 28x28 images that trains in minutes on a CPU."""

from zoo.models.registry import register_model


def conv_bn(x, filters, pool=False, name=None):
    """3x3 convolution (no bias) -> batch normalisation -> ReLU, then optionally 2x2 max pooling.

    Pooling comes after the activation, as in Page's ResNet-9, so each stage's first layer
    works at the higher resolution and hands on a quarter of it.

    Args:
        x: the input tensor.
        filters: the output channel count.
        pool: whether to halve the resolution with 2x2 max pooling. Defaults to `False`.
        name: the prefix of the layer names, e.g. `"stage1"`.

    Returns:
        The output tensor.
    """
    from keras import layers

    from zoo.models.layers import BatchNormalization

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = BatchNormalization(name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    if pool:
        x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    return x


def residual(x, filters, name=None):
    """Two `conv_bn` layers added to their input (Page 2018's residual unit: no projection,
    the widths already match)."""
    from keras import layers

    y = conv_bn(x, filters, name=f"{name}_1")
    y = conv_bn(y, filters, name=f"{name}_2")
    return layers.Add(name=f"{name}_add")([x, y])


@register_model(
    family="fastnet",
    input_shape=(28, 28, 1),
    num_classes=10,
    params=464_810,
    min_size=8,
    reference="Page 2018, How to train your ResNet (the DAWNBench ResNet-9), scaled down "
    "for 28x28 images on a CPU: widths 32-64-128 instead of 64-128-256-512, pooling from the stem",
)
def fastnet(input_shape, num_classes, width=32):
    """A stem, two stages of (conv -> BN -> ReLU -> 2x2 max pool -> residual unit), then
    global average pooling and the classifier.

    ResNet-9 keeps its stem and first stage at full resolution; at 28x28 on a CPU that
    stage alone would cost as much as the rest, so here the stem pools at once. At 28x28
    the resolutions are 28 (stem), 14 (stage 1's convolution), 7 (its residual unit and
    stage 2's convolution) and 3 (stage 2's residual unit); the widths are `width`,
    `2 x width` and `4 x width`. Average pooling instead of ResNet-9's max pooling keeps the
    initial logits small, so no output scaling is needed.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: the number of output classes.
        width: the stem's channel count. Defaults to `32`.

    Returns:
        A `keras.Model` named `"fastnet"`.
    """
    import keras
    from keras import layers

    from zoo.models.layers import classifier

    inputs = keras.Input(shape=input_shape, name="input")
    x = conv_bn(inputs, width, pool=True, name="stem")
    x = conv_bn(x, 2 * width, pool=True, name="stage1")
    x = residual(x, 2 * width, name="stage1_res")
    x = conv_bn(x, 4 * width, pool=True, name="stage2")
    x = residual(x, 4 * width, name="stage2_res")
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = classifier(num_classes)(x)
    return keras.Model(inputs, outputs, name="fastnet")
