"""The model registry, in the timm style.

Every architecture registers itself with `@register_model(...)`, declaring once its family,
default input shape and class count, whether ImageNet weights exist, the paper it follows,
its parameter count at the defaults (checked by the test suite) and the smallest input it
accepts. Registering imports no Keras: builders import it when they run, so listing models
and answering `zoo --help` stay fast.

This module is a leaf: it imports none of the architecture modules. `zoo.models` (the
package's `__init__`, which Python runs before this module can be imported) imports every
family, so registration is complete before anyone lists models.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from zoo.errors import ZooError

# Preprocessing modes, as `keras.applications.imagenet_utils.preprocess_input` names them,
# plus the two that our own models and the self-normalising Keras models use.
PREPROCESSING_MODES = {
    "scale": "pixels / 255, to [0, 1] (models trained from scratch by zoo)",
    "caffe": "RGB -> BGR, minus the ImageNet channel means, no scaling",
    "tf": "pixels / 127.5 - 1, to [-1, 1]",
    "torch": "pixels / 255, minus the ImageNet mean, divided by its std",
    "raw": "0-255 pixels; the model normalises them itself",
}


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows of one model."""

    name: str
    builder: Callable = field(repr=False)
    family: str
    input_shape: tuple[int, int, int]
    num_classes: int
    reference: str
    params: int
    min_size: int
    pretrained: bool = False
    preprocessing: str = "scale"
    channels: tuple[int, ...] = (1, 3)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "params": self.params,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "pretrained": self.pretrained,
            "preprocessing": self.preprocessing,
            "min_size": self.min_size,
            "reference": self.reference,
        }


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    *,
    family: str,
    input_shape: tuple[int, int, int],
    num_classes: int,
    reference: str,
    params: int,
    min_size: int,
    pretrained: bool = False,
    preprocessing: str = "scale",
    channels: tuple[int, ...] = (1, 3),
    name: str | None = None,
) -> Callable[[Callable], Callable]:
    """Register a builder `fn(input_shape, num_classes, **kwargs) -> keras.Model`.

    Args:
        family: the architecture family, e.g. `"resnet"`.
        input_shape: the default `(height, width, channels)`.
        num_classes: the default number of output classes.
        reference: the paper (or source) the builder follows.
        params: the parameter count at the default input shape and class count.
        min_size: the smallest height and width the architecture accepts.
        pretrained: whether ImageNet weights can be loaded.
        preprocessing: one of `PREPROCESSING_MODES`.
        channels: the channel counts the builder accepts.
        name: the registered name. Defaults to the function's name.
    """
    if preprocessing not in PREPROCESSING_MODES:
        raise ValueError(f"Unknown preprocessing mode. Received: preprocessing={preprocessing}")

    def decorator(fn: Callable) -> Callable:
        model_name = name or fn.__name__
        if model_name in _REGISTRY:
            raise ValueError(f"Model registered twice. Received: name={model_name}")
        _REGISTRY[model_name] = ModelSpec(
            name=model_name,
            builder=fn,
            family=family,
            input_shape=tuple(input_shape),
            num_classes=num_classes,
            reference=reference,
            params=params,
            min_size=min_size,
            pretrained=pretrained,
            preprocessing=preprocessing,
            channels=tuple(channels),
        )
        return fn

    return decorator


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def list_models(pattern: str | None = None, pretrained: bool = False) -> list[str]:
    """Return the registered names matching a shell-style `pattern`, in natural order.

    `list_models("resnet*")` gives `resnet20, resnet32, ..., resnet110, resnet152...`:
    numbers sort as numbers. With `pretrained=True`, only models with ImageNet weights.
    """
    names = [n for n, spec in _REGISTRY.items() if not pretrained or spec.pretrained]
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern.lower())]
    return sorted(names, key=_natural_key)


def get_spec(name: str) -> ModelSpec:
    """Return the `ModelSpec` of `name`, or raise a `ZooError` that suggests close names."""
    key = name.lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, _REGISTRY, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ZooError(f"unknown model '{name}'{hint} ('zoo models' lists them all)")


def check_input_shape(spec: ModelSpec, input_shape) -> tuple[int, int, int]:
    """Validate `input_shape` against what the architecture accepts."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        raise ZooError(
            f"{spec.name}: input shape must be height,width,channels; "
            f"got {','.join(map(str, shape))}"
        )
    height, width, channels = shape
    if channels not in spec.channels:
        allowed = " or ".join(map(str, spec.channels))
        raise ZooError(f"{spec.name}: inputs must have {allowed} channels; got {channels}")
    if min(height, width) < spec.min_size:
        m = spec.min_size
        raise ZooError(
            f"{spec.name} needs inputs of at least {m}x{m}, got {height}x{width}; "
            f"resize with --image-size {m},{m} (zoo train) or pick --input-shape {m},{m},{channels}"
        )
    return shape


def build_model(name: str, input_shape=None, num_classes: int | None = None, **kwargs):
    """Build the registered model `name` and return it, uncompiled.

    Args:
        name: a registered name (see `list_models()`).
        input_shape: `(height, width, channels)`. Defaults to the model's own.
        num_classes: the number of output classes. Defaults to the model's own.
        **kwargs: passed to the builder (e.g. `batch_norm=False` for `minivggnet`).

    Returns:
        A `keras.Model`.
    """
    spec = get_spec(name)
    shape = check_input_shape(spec, input_shape or spec.input_shape)
    classes = spec.num_classes if num_classes is None else int(num_classes)
    if classes < 1:
        raise ZooError(f"the number of classes must be at least 1; got {classes}")
    accepted = inspect.signature(spec.builder).parameters
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        options = sorted(k for k in accepted if k not in ("input_shape", "num_classes"))
        raise ZooError(
            f"{spec.name} does not take {', '.join(unknown)}; "
            f"it takes: {', '.join(options) or 'nothing'}"
        )
    return spec.builder(input_shape=shape, num_classes=classes, **kwargs)
