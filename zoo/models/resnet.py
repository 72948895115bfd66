"""Residual networks: the CIFAR ResNets of He et al. 2016 and pre-activation bottleneck ResNets."""

from zoo.models.registry import register_model

_CIFAR_REFERENCE = (
    "He, Zhang, Ren & Sun 2016, Deep residual learning for image recognition, CVPR "
    "(Sec. 4.2, Table 6)"
)
_PREACT_REFERENCE = (
    "He, Zhang, Ren & Sun 2016, Identity mappings in deep residual networks, ECCV "
    "(pre-activation bottleneck units)"
)


def basic_block(x, filters, stride=1, shortcut="A", regularizer=None, name=None):
    """The two-layer residual block of the CIFAR ResNets (He et al. 2016, Fig. 2).

    conv 3x3/stride -> BN -> ReLU -> conv 3x3 -> BN, added to the shortcut, then ReLU. Where
    the shape changes, the shortcut is option A (subsample and zero-pad the channels, no
    parameters, as the paper uses on CIFAR-10) or option B (a 1x1 projection with BN).

    Args:
        x: the input tensor.
        filters: the output channel count.
        stride: the stride of the first convolution. Defaults to `1`.
        shortcut: `"A"` or `"B"`. Defaults to `"A"`.
        regularizer: a kernel regularizer for the convolutions, or `None`.
        name: the prefix of the layer names, e.g. `"stage2_block1"`.

    Returns:
        The output tensor.
    """
    from keras import layers

    from zoo.models.layers import BatchNormalization, ShortcutPad

    def conv(t, strides, suffix):
        return layers.Conv2D(
            filters,
            3,
            strides=strides,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=regularizer,
            name=f"{name}_{suffix}_conv",
        )(t)

    residual = conv(x, stride, "1")
    residual = BatchNormalization(name=f"{name}_1_bn")(residual)
    residual = layers.Activation("relu", name=f"{name}_1_relu")(residual)
    residual = conv(residual, 1, "2")
    residual = BatchNormalization(name=f"{name}_2_bn")(residual)

    identity = x
    if stride != 1 or x.shape[-1] != filters:
        if shortcut == "A":
            identity = ShortcutPad(filters, stride, name=f"{name}_shortcut_pad")(x)
        else:
            identity = layers.Conv2D(
                filters,
                1,
                strides=stride,
                use_bias=False,
                kernel_regularizer=regularizer,
                name=f"{name}_shortcut_conv",
            )(x)
            identity = BatchNormalization(name=f"{name}_shortcut_bn")(identity)
    x = layers.Add(name=f"{name}_add")([identity, residual])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _cifar_resnet(model_name, depth, input_shape, num_classes, shortcut="A", l2=0.0):
    import keras
    from keras import layers

    from zoo.models.layers import BatchNormalization, classifier

    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2. Received: depth={depth}")
    if shortcut not in ("A", "B"):
        raise ValueError(f"shortcut must be 'A' or 'B'. Received: shortcut={shortcut}")
    n = (depth - 2) // 6
    reg = keras.regularizers.L2(l2) if l2 else None

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(
        16,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=reg,
        name="conv1_conv",
    )(inputs)
    x = BatchNormalization(name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    for stage, filters in enumerate((16, 32, 64), start=1):
        for block in range(1, n + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = basic_block(x, filters, stride, shortcut, reg, name=f"stage{stage}_block{block}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = classifier(num_classes, kernel_regularizer=reg)(x)
    return keras.Model(inputs, outputs, name=model_name)


def _register_cifar_resnet(depth, params):
    name = f"resnet{depth}"

    @register_model(
        family="resnet",
        input_shape=(32, 32, 3),
        num_classes=10,
        params=params,
        min_size=1,
        reference=_CIFAR_REFERENCE,
        name=name,
    )
    def builder(input_shape, num_classes, shortcut="A", l2=0.0):
        return _cifar_resnet(name, depth, input_shape, num_classes, shortcut=shortcut, l2=l2)

    builder.__doc__ = f"""ResNet-{depth} for CIFAR (He et al. 2016, Sec. 4.2): 6n+2 layers.

    A 3x3x16 convolution, three stages of n = {(depth - 2) // 6} basic blocks with 16, 32 and
    64 filters (the first block of stages 2 and 3 halves the map), global average pooling and
    a softmax.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: the number of output classes.
        shortcut: `"A"` (zero-padding identity, the paper's CIFAR choice) or `"B"`
            (1x1 projections). Defaults to `"A"`.
        l2: L2 weight decay on the kernels; He et al. use `1e-4`. Defaults to `0`.

    Returns:
        A `keras.Model` named `"{name}"`.
    """
    builder.__name__ = name
    return builder


# Table 6 of the paper: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
resnet20 = _register_cifar_resnet(20, 271_098)
resnet32 = _register_cifar_resnet(32, 466_426)
resnet44 = _register_cifar_resnet(44, 661_754)
resnet56 = _register_cifar_resnet(56, 857_082)
resnet110 = _register_cifar_resnet(110, 1_736_058)


def preact_bottleneck(x, filters, stride=1, project=False, regularizer=None, name=None):
    """The pre-activation bottleneck unit (He et al. 2016b, Fig. 4e).

    BN -> ReLU -> conv 1x1 (filters/4) -> BN -> ReLU -> conv 3x3/stride (filters/4) -> BN ->
    ReLU -> conv 1x1 (filters), added to the shortcut. With `project`, the shortcut is a 1x1
    convolution of the pre-activated input, as the paper does where the shape changes.

    Args:
        x: the input tensor.
        filters: the output channel count (the bottleneck has a quarter of it).
        stride: the stride of the 3x3 convolution. Defaults to `1`.
        project: whether the shortcut is a projection. Defaults to `False`.
        regularizer: a kernel regularizer for the convolutions, or `None`.
        name: the prefix of the layer names.

    Returns:
        The output tensor.
    """
    from keras import layers

    from zoo.models.layers import BatchNormalization

    def conv(t, f, kernel, strides, suffix):
        return layers.Conv2D(
            f,
            kernel,
            strides=strides,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=regularizer,
            name=f"{name}_{suffix}_conv",
        )(t)

    preact = BatchNormalization(name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    y = conv(preact, filters // 4, 1, 1, "1")
    y = BatchNormalization(name=f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = conv(y, filters // 4, 3, stride, "2")
    y = BatchNormalization(name=f"{name}_2_bn")(y)
    y = layers.Activation("relu", name=f"{name}_2_relu")(y)
    y = conv(y, filters, 1, 1, "3")
    shortcut = conv(preact, filters, 1, stride, "shortcut") if project else x
    return layers.Add(name=f"{name}_add")([shortcut, y])


def _preact_resnet(model_name, input_shape, num_classes, stages, filters, l2):
    import keras
    from keras import layers

    from zoo.models.layers import BatchNormalization, classifier

    stages, filters = tuple(stages), tuple(filters)
    if len(filters) != len(stages) + 1:
        raise ValueError(
            "filters needs one entry for the stem and one per stage. "
            f"Received: stages={stages}, filters={filters}"
        )
    reg = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(
        filters[0],
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=reg,
        name="conv1_conv",
    )(inputs)
    for s, (blocks, f) in enumerate(zip(stages, filters[1:], strict=True), start=1):
        for b in range(1, blocks + 1):
            first = b == 1
            stride = 2 if first and s > 1 else 1
            x = preact_bottleneck(
                x, f, stride, project=first, regularizer=reg, name=f"stage{s}_block{b}"
            )
    x = BatchNormalization(name="post_bn")(x)
    x = layers.Activation("relu", name="post_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = classifier(num_classes, kernel_regularizer=reg)(x)
    return keras.Model(inputs, outputs, name=model_name)


@register_model(
    family="resnet",
    input_shape=(32, 32, 3),
    num_classes=10,
    params=886_090,
    min_size=1,
    reference=_PREACT_REFERENCE,
)
def resnet_preact(
    input_shape, num_classes, stages=(9, 9, 9), filters=(64, 64, 128, 256), l2=0.0005
):
    """A pre-activation bottleneck ResNet with configurable stages and filters.

    A 3x3 stem convolution with `filters[0]` filters, then one stage of `stages[i]`
    `preact_bottleneck` units with `filters[i + 1]` output channels per entry (stages after
    the first halve the map), BN -> ReLU, global average pooling and a softmax. The defaults
    are the CIFAR-10 configuration of Rosebrock 2017 (Practitioner Bundle ch. 12).

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: the number of output classes.
        stages: units per stage. Defaults to `(9, 9, 9)`.
        filters: stem filters, then output filters per stage. Defaults to `(64, 64, 128, 256)`.
        l2: L2 weight decay on the kernels. Defaults to `0.0005`.

    Returns:
        A `keras.Model` named `"resnet_preact"`.
    """
    return _preact_resnet("resnet_preact", input_shape, num_classes, stages, filters, l2)


@register_model(
    family="resnet",
    input_shape=(32, 32, 3),
    num_classes=10,
    params=1_727_482,
    min_size=1,
    reference=_PREACT_REFERENCE + ", Table 2: ResNet-164, 1.7M parameters",
)
def resnet164(input_shape, num_classes, l2=0.0):
    """ResNet-164 for CIFAR: 3 stages of 18 pre-activation bottleneck units (64/128/256 out).

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: the number of output classes.
        l2: L2 weight decay on the kernels; the paper uses `1e-4`. Defaults to `0`.

    Returns:
        A `keras.Model` named `"resnet164"`.
    """
    return _preact_resnet(
        "resnet164", input_shape, num_classes, (18, 18, 18), (16, 64, 128, 256), l2
    )
