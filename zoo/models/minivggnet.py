"""MiniVGGNet: two VGG-style stages for small images."""

from zoo.models.registry import register_model


@register_model(
    family="vgg",
    input_shape=(32, 32, 3),
    num_classes=10,
    params=2_171_178,
    min_size=4,
    reference="Simonyan & Zisserman 2014 (arXiv:1409.1556), scaled down by Rosebrock 2017, "
    "Starter Bundle ch. 15",
)
def minivggnet(input_shape, num_classes, batch_norm=True):
    """Two (conv, conv, pool, dropout) stages of 32 and 64 3x3 filters, then dense 512.

    Each convolution is followed by ReLU and, by default, batch normalisation; pooling is
    2x2 max pooling and dropout is 0.25 after each stage and 0.5 before the classifier.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: the number of output classes.
        batch_norm: whether to normalise after each activation. `False` reproduces the
            no-batch-norm baseline. Defaults to `True`.

    Returns:
        A `keras.Model` named `"minivggnet"`.
    """
    import keras
    from keras import layers

    from zoo.models.layers import BatchNormalization, classifier

    def norm(x, name):
        return BatchNormalization(name=name)(x) if batch_norm else x

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for block, filters in enumerate((32, 64), start=1):
        for i in (1, 2):
            prefix = f"block{block}_conv{i}"
            x = layers.Conv2D(filters, 3, padding="same", name=prefix)(x)
            x = layers.Activation("relu", name=f"{prefix}_relu")(x)
            x = norm(x, f"{prefix}_bn")
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        x = layers.Dropout(0.25, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, name="fc1")(x)
    x = layers.Activation("relu", name="fc1_relu")(x)
    x = norm(x, "fc1_bn")
    x = layers.Dropout(0.5, name="fc1_dropout")(x)
    outputs = classifier(num_classes)(x)
    return keras.Model(inputs, outputs, name="minivggnet")
