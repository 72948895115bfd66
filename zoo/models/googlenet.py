"""GoogLeNet (Inception v1) and the small Inception network for 32x32 inputs."""

from zoo.models.registry import register_model


def conv_module(x, filters, kernel_size, strides=1, padding="same", name=None):
    """Convolution -> batch normalisation -> ReLU, the unit of MiniGoogLeNet."""
    from keras import layers

    from zoo.models.layers import BatchNormalization

    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, name=f"{name}_conv")(
        x
    )
    x = BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def mini_inception_module(x, filters_1x1, filters_3x3, name=None):
    """Zhang et al. 2017's Inception module: a 1x1 and a 3x3 `conv_module`, concatenated."""
    from keras import layers

    branch1 = conv_module(x, filters_1x1, 1, name=f"{name}_1x1")
    branch3 = conv_module(x, filters_3x3, 3, name=f"{name}_3x3")
    return layers.Concatenate(name=f"{name}_concat")([branch1, branch3])


def downsample_module(x, filters, name=None):
    """Zhang et al. 2017's downsample module: a 3x3/2 `conv_module` beside a 3x3/2 max pool."""
    from keras import layers

    conv = conv_module(x, filters, 3, strides=2, padding="valid", name=f"{name}_3x3")
    pool = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return layers.Concatenate(name=f"{name}_concat")([conv, pool])


def inception_module(x, f1, f3_reduce, f3, f5_reduce, f5, pool_proj, name=None):
    """The Inception v1 module (Szegedy et al. 2014, Fig. 2b).

    Four branches, concatenated on channels: 1x1; 1x1 reduce -> 3x3; 1x1 reduce -> 5x5;
    3x3/1 max pool -> 1x1 projection. Every convolution is followed by ReLU.

    Args:
        x: the input tensor.
        f1, f3_reduce, f3, f5_reduce, f5, pool_proj: the filter counts, in the order of the
            paper's Table 1 columns.
        name: the prefix of the layer names, e.g. `"inception_3a"`.

    Returns:
        The output tensor, with `f1 + f3 + f5 + pool_proj` channels.
    """
    from keras import layers

    def conv(t, filters, kernel, suffix):
        return layers.Conv2D(
            filters, kernel, padding="same", activation="relu", name=f"{name}_{suffix}"
        )(t)

    branch1 = conv(x, f1, 1, "1x1")
    branch3 = conv(conv(x, f3_reduce, 1, "3x3_reduce"), f3, 3, "3x3")
    branch5 = conv(conv(x, f5_reduce, 1, "5x5_reduce"), f5, 5, "5x5")
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = conv(pooled, pool_proj, 1, "pool_proj")
    return layers.Concatenate(name=f"{name}_concat")([branch1, branch3, branch5, branch_pool])


@register_model(
    family="googlenet",
    input_shape=(32, 32, 3),
    num_classes=10,
    params=1_656_250,
    min_size=7,
    reference="Zhang, Bengio, Hardt, Recht & Vinyals 2017, Understanding deep learning requires "
    "rethinking generalization, ICLR (Inception small, Fig. 3)",
)
def minigooglenet(input_shape, num_classes):
    """The small Inception network of Zhang et al. 2017 for 32x32 images.

    conv 96@3x3 -> 2 inception -> downsample -> 4 inception -> downsample -> 2 inception ->
    mean pool -> dropout 0.5 -> softmax. The paper's 7x7 mean pool is a global average pool
    at 32x32; it is written as one here so other input sizes work too.

    Args:
        input_shape: `(height, width, channels)`; at least 7x7.
        num_classes: the number of output classes.

    Returns:
        A `keras.Model` named `"minigooglenet"`.
    """
    import keras
    from keras import layers

    from zoo.models.layers import classifier

    inputs = keras.Input(shape=input_shape, name="input")
    x = conv_module(inputs, 96, 3, name="stem")
    x = mini_inception_module(x, 32, 32, name="inception_1a")
    x = mini_inception_module(x, 32, 48, name="inception_1b")
    x = downsample_module(x, 80, name="downsample_1")
    for suffix, (f1, f3) in zip("abcd", ((112, 48), (96, 64), (80, 80), (48, 96)), strict=True):
        x = mini_inception_module(x, f1, f3, name=f"inception_2{suffix}")
    x = downsample_module(x, 96, name="downsample_2")
    x = mini_inception_module(x, 176, 160, name="inception_3a")
    x = mini_inception_module(x, 176, 160, name="inception_3b")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    outputs = classifier(num_classes)(x)
    return keras.Model(inputs, outputs, name="minigooglenet")


# Szegedy et al. 2014, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
_GOOGLENET_TABLE = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


@register_model(
    family="googlenet",
    input_shape=(224, 224, 3),
    num_classes=1000,
    params=6_998_552,
    min_size=1,
    reference="Szegedy et al. 2014, Going deeper with convolutions, CVPR 2015 (arXiv:1409.4842)",
)
def googlenet(input_shape, num_classes, lrn=True, dropout=0.4):
    """GoogLeNet (Inception v1) as in Table 1 of the paper, without the auxiliary classifiers.

    Stem: conv 64@7x7/2 -> max pool 3x3/2 -> LRN -> conv 64@1x1 -> conv 192@3x3 -> LRN ->
    max pool 3x3/2; then inception 3a, 3b -> pool -> 4a..4e -> pool -> 5a, 5b -> global
    average pool (7x7 at 224x224) -> dropout 40% -> softmax.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: the number of output classes.
        lrn: whether to apply local response normalisation in the stem, as the paper does.
            Defaults to `True`.
        dropout: the dropout rate before the classifier. Defaults to `0.4`.

    Returns:
        A `keras.Model` named `"googlenet"`.
    """
    import keras
    from keras import layers

    from zoo.models.layers import LocalResponseNormalization, classifier

    def maxpool(t, name):
        return layers.MaxPooling2D(3, strides=2, padding="same", name=name)(t)

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(64, 7, strides=2, padding="same", activation="relu", name="conv1_7x7")(inputs)
    x = maxpool(x, "pool1")
    if lrn:
        x = LocalResponseNormalization(name="pool1_norm")(x)
    x = layers.Conv2D(64, 1, activation="relu", name="conv2_3x3_reduce")(x)
    x = layers.Conv2D(192, 3, padding="same", activation="relu", name="conv2_3x3")(x)
    if lrn:
        x = LocalResponseNormalization(name="conv2_norm")(x)
    x = maxpool(x, "pool2")
    for stage in ("3a", "3b", "pool3", "4a", "4b", "4c", "4d", "4e", "pool4", "5a", "5b"):
        if stage.startswith("pool"):
            x = maxpool(x, stage)
        else:
            x = inception_module(x, *_GOOGLENET_TABLE[stage], name=f"inception_{stage}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = classifier(num_classes)(x)
    return keras.Model(inputs, outputs, name="googlenet")
