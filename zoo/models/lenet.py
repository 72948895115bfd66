"""LeNet: the 20/50-filter ReLU variant and LeNet-5 as LeCun et al. published it."""

from zoo.models.registry import register_model


@register_model(
    family="lenet",
    input_shape=(28, 28, 1),
    num_classes=10,
    params=1_256_080,
    min_size=4,
    reference="LeCun et al. 1998, as adapted by Rosebrock 2017 (ReLU, max pooling, 20/50 filters)",
)
def lenet(input_shape, num_classes):
    """LeNet with ReLU and max pooling: conv 20@5x5 -> pool -> conv 50@5x5 -> pool -> dense 500.

    Convolutions keep the spatial size (`padding="same"`), so 28x28 MNIST fits directly.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: the number of output classes.

    Returns:
        A `keras.Model` named `"lenet"`.
    """
    import keras
    from keras import layers

    from zoo.models.layers import classifier

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for i, filters in enumerate((20, 50), start=1):
        x = layers.Conv2D(filters, 5, padding="same", name=f"conv{i}")(x)
        x = layers.Activation("relu", name=f"conv{i}_relu")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(500, name="fc1")(x)
    x = layers.Activation("relu", name="fc1_relu")(x)
    outputs = classifier(num_classes)(x)
    return keras.Model(inputs, outputs, name="lenet")


@register_model(
    family="lenet",
    input_shape=(32, 32, 1),
    num_classes=10,
    params=61_706,
    min_size=32,
    reference="LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning applied to "
    "document recognition, Proc. IEEE 86(11)",
)
def lenet5(input_shape, num_classes):
    """LeNet-5: C1 6@5x5 -> S2 -> C3 16@5x5 -> S4 -> C5 120@5x5 -> F6 84 -> output, tanh.

    As in the paper, the input is 32x32 (MNIST's 28x28 padded; use `--image-size 32,32`),
    subsampling is 2x2 average pooling and C5 is a 5x5 convolution giving a 1x1x120 map.
    Two simplifications that every modern reproduction makes: C3 connects to all six S2 maps
    (the paper's partial connection table saves 1,000 weights), and the output is a softmax
    rather than Euclidean RBF units.

    Args:
        input_shape: `(height, width, channels)`; at least 32x32.
        num_classes: the number of output classes.

    Returns:
        A `keras.Model` named `"lenet5"`.
    """
    import keras
    from keras import layers

    from zoo.models.layers import classifier

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(6, 5, activation="tanh", name="c1")(inputs)
    x = layers.AveragePooling2D(2, name="s2")(x)
    x = layers.Conv2D(16, 5, activation="tanh", name="c3")(x)
    x = layers.AveragePooling2D(2, name="s4")(x)
    x = layers.Conv2D(120, 5, activation="tanh", name="c5")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(84, activation="tanh", name="f6")(x)
    outputs = classifier(num_classes)(x)
    return keras.Model(inputs, outputs, name="lenet5")
