"""The choices that several parts of zoo accept, and the one reading of "H,W", declared once.

`config.FIELDS`, the command parsers and the library check values against these same tuples,
so a new precision or device is added here and nowhere else. This module imports only the
standard library and `zoo.errors`: every parser reads it, and `zoo --help` must answer at once.
"""

from __future__ import annotations

import re

from zoo.errors import ZooError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # Keras dtype policies
DEVICES = ("auto", "cpu", "gpu")  # where a model runs (`zoo.backend.device_name`)
EXPORT_FORMATS = ("savedmodel", "onnx", "tflite")  # what `zoo export` writes
# keras: the model in Keras (its backend); onnx and tflite: exported by zoo.export, timed in
# onnxruntime and the LiteRT interpreter
BENCHMARK_FORMATS = ("keras", "onnx", "tflite")
DISTRIBUTE_MODES = ("none", "data-parallel")
TTA_MODES = ("flip", "crops")  # test-time augmentation's views (zoo.tta)
# The metrics that can pick the best model, and which way is better (Keras' `mode`); the IoU
# ones are of `--task boxes` (zoo.boxes), the accuracy ones of classifiers.
MONITOR_MODE = {"val_loss": "min", "val_accuracy": "max", "loss": "min", "accuracy": "max",
                "val_iou": "max", "iou": "max"}
MONITORS = tuple(MONITOR_MODE)
CLASSIFIERS = ("logreg", "linearsvm", "knn", "randomforest")  # fitted by zoo.features
POOLINGS = ("avg", "max", "flatten")  # how a CNN layer's 4-D output becomes a feature vector


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse `"H,W,C"` (or `"HxWxC"`) into a tuple of positive ints."""
    parts = re.split(r"[,x]", text.strip().lower())
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ZooError(f"bad shape '{text}': expected numbers like 32,32,3") from None
    if any(s <= 0 for s in shape):
        raise ZooError(f"bad shape '{text}': every dimension must be positive")
    return shape


def parse_image_size(text: str, what: str = "--image-size") -> tuple[int, int]:
    """Parse `"H,W"` (or `"HxW"`) into two positive ints; anything else is a `ZooError`
    naming `what` (the flag or the setting that gave it)."""
    shape = parse_shape(str(text))
    if len(shape) != 2:
        raise ZooError(f"bad {what} '{text}': expected H,W like 32,32")
    return shape


def parse_input_shape(text: str, what: str = "--input-shape") -> tuple[int, ...]:
    """Parse `"H,W"` or `"H,W,C"` (the channels then being the model's own)."""
    shape = parse_shape(text)
    if len(shape) not in (2, 3):
        raise ZooError(f"bad {what} '{text}': expected H,W or H,W,C")
    return shape
