"""AlexNet, single tower."""

from zoo.models.registry import register_model


@register_model(
    family="alexnet",
    input_shape=(227, 227, 3),
    num_classes=1000,
    params=62_416_616,
    min_size=67,
    reference="Krizhevsky, Sutskever & Hinton 2012, ImageNet classification with deep "
    "convolutional neural networks, NeurIPS",
)
def alexnet(input_shape, num_classes, l2=0.0002):
    """AlexNet as one tower, with batch normalisation in place of local response normalisation.

    conv 96@11x11/4 -> pool -> conv 256@5x5 -> pool -> conv 384, 384, 256@3x3 -> pool ->
    dense 4096 -> dense 4096 -> softmax. Pools are 3x3 with stride 2 (overlapping), as in
    the paper; at 227x227 the last map is 6x6x256 (9,216 features). As in common Keras
    re-implementations, every convolution and dense layer is followed by ReLU and batch
    normalisation, with dropout 0.25 after each pool and 0.5 after each dense layer.

    Args:
        input_shape: `(height, width, channels)`; at least 67x67.
        num_classes: the number of output classes.
        l2: L2 weight decay on every kernel (`0` turns it off). Defaults to `0.0002`.

    Returns:
        A `keras.Model` named `"alexnet"`.
    """
    import keras
    from keras import layers

    from zoo.models.layers import BatchNormalization, classifier

    reg = keras.regularizers.L2(l2) if l2 else None

    def conv_bn(x, filters, kernel, name, strides=1, padding="same"):
        x = layers.Conv2D(
            filters, kernel, strides=strides, padding=padding, kernel_regularizer=reg, name=name
        )(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
        return BatchNormalization(name=f"{name}_bn")(x)

    def pool(x, name):
        x = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
        return layers.Dropout(0.25, name=f"{name}_dropout")(x)

    inputs = keras.Input(shape=input_shape, name="input")
    x = conv_bn(inputs, 96, 11, "conv1", strides=4, padding="valid")
    x = pool(x, "block1")
    x = conv_bn(x, 256, 5, "conv2")
    x = pool(x, "block2")
    x = conv_bn(x, 384, 3, "conv3")
    x = conv_bn(x, 384, 3, "conv4")
    x = conv_bn(x, 256, 3, "conv5")
    x = pool(x, "block3")
    x = layers.Flatten(name="flatten")(x)
    for i in (6, 7):
        x = layers.Dense(4096, kernel_regularizer=reg, name=f"fc{i}")(x)
        x = layers.Activation("relu", name=f"fc{i}_relu")(x)
        x = BatchNormalization(name=f"fc{i}_bn")(x)
        x = layers.Dropout(0.5, name=f"fc{i}_dropout")(x)
    outputs = classifier(num_classes, kernel_regularizer=reg)(x)
    return keras.Model(inputs, outputs, name="alexnet")
