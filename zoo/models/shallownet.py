"""ShallowNet: the smallest useful CNN."""

from zoo.models.registry import register_model


@register_model(
    family="shallownet",
    input_shape=(32, 32, 3),
    num_classes=10,
    params=328_586,
    min_size=1,
    reference="Rosebrock 2017, Deep Learning for Computer Vision with Python, "
    "Starter Bundle ch. 12",
)
def shallownet(input_shape, num_classes):
    """One 3x3x32 convolution with ReLU, then a softmax classifier.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: the number of output classes.

    Returns:
        A `keras.Model` named `"shallownet"`.
    """
    import keras
    from keras import layers

    from zoo.models.layers import classifier

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(32, 3, padding="same", name="conv1")(inputs)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = classifier(num_classes)(x)
    return keras.Model(inputs, outputs, name="shallownet")
