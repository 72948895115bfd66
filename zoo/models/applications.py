"""The Keras ImageNet models (`keras.applications`), registered as one family.

Each entry records the native input size, the preprocessing the weights were trained with
and the Keras module whose `preprocess_input` implements it. Built with `weights=None` by
default; `weights="imagenet"` downloads the ImageNet weights into the Keras cache.
"""

from zoo.models.registry import register_model

_REFS = {
    "vgg": "Simonyan & Zisserman 2014, Very deep convolutional networks (arXiv:1409.1556)",
    "resnet": "He et al. 2016, Deep residual learning for image recognition (arXiv:1512.03385)",
    "resnetv2": "He et al. 2016, Identity mappings in deep residual networks (arXiv:1603.05027)",
    "inception": "Szegedy et al. 2016, Rethinking the Inception architecture (arXiv:1512.00567)",
    "inception_resnet": "Szegedy et al. 2017, Inception-v4, Inception-ResNet (arXiv:1602.07261)",
    "xception": "Chollet 2017, Xception: deep learning with depthwise separable convolutions "
    "(arXiv:1610.02357)",
    "mobilenet": "Howard et al. 2017, MobileNets (arXiv:1704.04861)",
    "mobilenetv2": "Sandler et al. 2018, MobileNetV2 (arXiv:1801.04381)",
    "mobilenetv3": "Howard et al. 2019, Searching for MobileNetV3 (arXiv:1905.02244)",
    "densenet": "Huang et al. 2017, Densely connected convolutional networks (arXiv:1608.06993)",
    "efficientnet": "Tan & Le 2019, EfficientNet (arXiv:1905.11946)",
    "efficientnetv2": "Tan & Le 2021, EfficientNetV2 (arXiv:2104.00298)",
    "nasnet": "Zoph et al. 2018, Learning transferable architectures (arXiv:1707.07012)",
    "convnext": "Liu et al. 2022, A ConvNet for the 2020s (arXiv:2201.03545)",
}

# name: (keras.applications attribute, keras module of preprocess_input, native size,
#        preprocessing mode, smallest input, parameters at 224/299/... with 1000 classes, ref)
APPLICATIONS = {
    "vgg16": ("VGG16", "vgg16", 224, "caffe", 32, 138_357_544, "vgg"),
    "vgg19": ("VGG19", "vgg19", 224, "caffe", 32, 143_667_240, "vgg"),
    "resnet50": ("ResNet50", "resnet", 224, "caffe", 32, 25_636_712, "resnet"),
    "resnet101": ("ResNet101", "resnet", 224, "caffe", 32, 44_707_176, "resnet"),
    "resnet152": ("ResNet152", "resnet", 224, "caffe", 32, 60_419_944, "resnet"),
    "resnet50v2": ("ResNet50V2", "resnet_v2", 224, "tf", 32, 25_613_800, "resnetv2"),
    "resnet101v2": ("ResNet101V2", "resnet_v2", 224, "tf", 32, 44_675_560, "resnetv2"),
    "resnet152v2": ("ResNet152V2", "resnet_v2", 224, "tf", 32, 60_380_648, "resnetv2"),
    "inceptionv3": ("InceptionV3", "inception_v3", 299, "tf", 75, 23_851_784, "inception"),
    "inceptionresnetv2": (
        "InceptionResNetV2",
        "inception_resnet_v2",
        299,
        "tf",
        75,
        55_873_736,
        "inception_resnet",
    ),
    "xception": ("Xception", "xception", 299, "tf", 71, 22_910_480, "xception"),
    "mobilenet": ("MobileNet", "mobilenet", 224, "tf", 32, 4_253_864, "mobilenet"),
    "mobilenetv2": ("MobileNetV2", "mobilenet_v2", 224, "tf", 32, 3_538_984, "mobilenetv2"),
    "mobilenetv3small": (
        "MobileNetV3Small",
        "mobilenet_v3",
        224,
        "raw",
        32,
        2_554_968,
        "mobilenetv3",
    ),
    "mobilenetv3large": (
        "MobileNetV3Large",
        "mobilenet_v3",
        224,
        "raw",
        32,
        5_507_432,
        "mobilenetv3",
    ),
    "densenet121": ("DenseNet121", "densenet", 224, "torch", 32, 8_062_504, "densenet"),
    "densenet169": ("DenseNet169", "densenet", 224, "torch", 32, 14_307_880, "densenet"),
    "densenet201": ("DenseNet201", "densenet", 224, "torch", 32, 20_242_984, "densenet"),
    "efficientnetb0": ("EfficientNetB0", "efficientnet", 224, "raw", 32, 5_330_571, "efficientnet"),
    "efficientnetb1": ("EfficientNetB1", "efficientnet", 240, "raw", 32, 7_856_239, "efficientnet"),
    "efficientnetb2": ("EfficientNetB2", "efficientnet", 260, "raw", 32, 9_177_569, "efficientnet"),
    "efficientnetb3": (
        "EfficientNetB3",
        "efficientnet",
        300,
        "raw",
        32,
        12_320_535,
        "efficientnet",
    ),
    "efficientnetv2b0": (
        "EfficientNetV2B0",
        "efficientnet_v2",
        224,
        "raw",
        32,
        7_200_312,
        "efficientnetv2",
    ),
    "nasnetmobile": ("NASNetMobile", "nasnet", 224, "tf", 32, 5_326_716, "nasnet"),
    "convnexttiny": ("ConvNeXtTiny", "convnext", 224, "raw", 32, 28_589_128, "convnext"),
}


def _register(name, attr, size, preprocessing, min_size, params, ref):
    @register_model(
        family="imagenet",
        input_shape=(size, size, 3),
        num_classes=1000,
        params=params,
        min_size=min_size,
        pretrained=True,
        preprocessing=preprocessing,
        channels=(3,),
        reference=_REFS[ref],
        name=name,
    )
    def builder(
        input_shape,
        num_classes,
        weights=None,
        include_top=True,
        pooling=None,
        classifier_activation="softmax",
    ):
        import keras

        constructor = getattr(keras.applications, attr)
        # Under a mixed policy the classifier's activation runs in float32, as the Keras
        # mixed-precision guide does (and as zoo's own models do, see layers.classifier).
        mixed = keras.config.dtype_policy().compute_dtype != "float32"
        split = mixed and include_top and classifier_activation is not None
        model = constructor(
            include_top=include_top,
            weights=weights,
            input_shape=tuple(input_shape),
            pooling=pooling,
            classes=num_classes,
            classifier_activation=None if split else classifier_activation,
        )
        if not split:
            return model
        outputs = keras.layers.Activation(classifier_activation, dtype="float32",
                                          name="predictions_float32")(model.output)
        return keras.Model(model.input, outputs, name=model.name)

    builder.__name__ = name
    builder.__doc__ = f"""`keras.applications.{attr}` ({_REFS[ref]}).

    Args:
        input_shape: `(height, width, 3)`. Natively {size}x{size}.
        num_classes: the number of output classes (1000 for the ImageNet weights).
        weights: `None` (random), `"imagenet"` or a path to a weights file. Defaults to `None`.
        include_top: whether to include the classifier. Defaults to `True`.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
        classifier_activation: the activation of the classifier. Defaults to `"softmax"`.

    Returns:
        A `keras.Model`.
    """


for _name, (_attr, _module, _size, _pre, _min, _params, _ref) in APPLICATIONS.items():
    _register(_name, _attr, _size, _pre, _min, _params, _ref)


def build_with_imagenet_weights(name: str, weights: str | None = None, **kwargs):
    """`build_model(name, **kwargs)` with ImageNet weights: from the local file `weights`, or
    Keras' own (its cache, else a download). Every failure is one line: a missing or
    mismatched file (exit 2), or a failed download naming the file to put in the cache and
    `--weights` (exit 1).

    Args:
        name: a registered ImageNet model (`zoo models --pretrained`).
        weights: a local weights file; `None` (or `"imagenet"`) for Keras' own.
        **kwargs: passed to the builder (`input_shape`, `include_top=False`, ...).
    """
    from pathlib import Path

    from zoo.errors import ZooError, first_line
    from zoo.models.registry import build_model

    if weights and weights != "imagenet":
        if not Path(weights).is_file():
            raise ZooError(f"weights file not found: {weights}")
        model = build_model(name, **kwargs)
        try:
            model.load_weights(weights)
        except Exception as exc:
            top = " without its top" if kwargs.get("include_top") is False else ""
            raise ZooError(f"{weights} does not fit {name}{top}: "
                           f"{first_line(exc)}") from None
        return model
    try:
        return build_model(name, weights="imagenet", **kwargs)
    except Exception as exc:
        raise weights_failure(name, exc) from None


def weights_failure(name: str, exc: Exception):
    """The one-line error of a failed ImageNet weights download: which file, where."""
    import re

    from zoo.backend import keras_home
    from zoo.errors import ZooRuntimeError

    url = re.search(r"https?://\S+?\.h5", str(exc))
    file = url.group(0).rsplit("/", 1)[-1] if url else f"the {name} ImageNet weights file"
    return ZooRuntimeError(
        f"cannot download the ImageNet weights of {name} ({type(exc).__name__}); put {file} in "
        f"{keras_home() / 'models'}/ or pass --weights FILE"
    )
